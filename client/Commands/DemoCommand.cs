using System.CommandLine;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid demo</c>: the main job on the embedded default, as far as the pipeline exists.
/// Every figure it prints is computed in this run.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var command = new Command("demo", "Run the pipeline end to end on the embedded default (as far as it is built).");
        command.SetAction(_ =>
        {
            Console.WriteLine("GidCluster demo: embedded default (one machine)");
            Console.WriteLine();
            Console.WriteLine("Engines loaded through the native shims:");
            foreach (var (name, version) in Engines.Describe())
                Console.WriteLine($"  {name,-10} {version}");
            Console.WriteLine();
            Console.WriteLine("Pipeline stages not built yet (see README, 'Not built yet'): dataprep, cluster, training, inference.");
            return 0;
        });
        return command;
    }
}
