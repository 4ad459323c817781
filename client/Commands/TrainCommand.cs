using System.CommandLine;
using GidCluster.Training.Trainer;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid train rank --spec FILE</c>: one rank of a training run in this process (the launcher starts one per rank,
/// with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set). The rank runs inside the <c>gid</c> client so TorchSharp's
/// native libraries are not copied into yet another output folder.
/// </summary>
public static class TrainCommand
{
    public static Command Create() => new("train", "Train a stage of the model (vae, ldm1, ldm2).") { Rank() };

    private static Command Rank()
    {
        var spec = new Option<string>("--spec") { Description = "The run's training spec (JSON, written by the launcher).", Required = true };
        var command = new Command("rank", "Run one rank of a training run (started by the launcher; reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).") { spec };
        command.SetAction((parse, cancel) => Task.FromResult(RankProcess.Run(parse.GetValue(spec)!, cancel: cancel)));
        return command;
    }
}
