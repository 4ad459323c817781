using System.CommandLine;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Training.Distributed;
using GidCluster.Training.Tensors;

namespace GidCluster.Client.Commands;

/// <summary><c>gid versions</c>: which engines this process loads.</summary>
public static class VersionsCommand
{
    public static Command Create()
    {
        var command = new Command("versions", "Show the engines: TorchSharp's libtorch, Gloo (collective shim), OpenCV and .NET.");
        command.SetAction(_ =>
        {
            foreach (var (name, version) in Engines.Describe())
                Console.WriteLine($"{name,-10} {version}");
            return 0;
        });
        return command;
    }
}

/// <summary>Engine versions as the loaded libraries report them.</summary>
public static class Engines
{
    public static IReadOnlyList<(string Name, string Version)> Describe() =>
    [
        ("libtorch", $"{TorchRuntime.LibTorchVersion} ({(TorchSharp.torch.cuda.is_available() ? "CUDA" : "CPU")}, TorchSharp {TorchRuntime.TorchSharpVersion})"),
        ("Gloo", ProcessGroup.GlooVersion),
        ("OpenCV", Cv2.GetVersionString()),
        (".NET", Environment.Version.ToString()),
    ];
}
