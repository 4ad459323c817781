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
        var command = new Command("versions", "Show the engines and libraries: TorchSharp's libtorch, Gloo (collective shim), OpenCV, .NET, Parquet.Net (with Snappier) and the Azure SDK.");
        command.SetAction(_ =>
        {
            foreach (var (name, version) in Engines.Describe())
                Console.WriteLine($"{name,-20} {version}");
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
        ("Parquet.Net", Library(typeof(Parquet.ParquetReader))),
        ("Snappier", Library(typeof(Snappier.Snappy))),
        ("Azure.Storage.Blobs", Library(typeof(Azure.Storage.Blobs.BlobServiceClient))),
        ("Azure.Identity", Library(typeof(Azure.Identity.DefaultAzureCredential))),
    ];

    /// <summary>A managed library's version as its package stamped it (without the commit suffix).</summary>
    private static string Library(Type type) =>
        (System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(type.Assembly)?.InformationalVersion
            ?? type.Assembly.GetName().Version?.ToString() ?? "?").Split('+')[0];
}
