using System.CommandLine;
using GidCluster.Client.Commands;

// Table of contents of the `gid` command line: one file per command under Commands/.
var root = new RootCommand("GidCluster: learn a generative prior over scene motion from videos, and animate still pictures.")
{
    BenchCommand.Create(),
    CheckpointsCommand.Create(),
    DemoCommand.Create(),
    InspectCommand.Create(),
    IngestCommand.Create(),
    RunsCommand.Create(),
    SiloCommand.Create(),
    DataprepCommand.Create(),
    SpectrumCommand.Create(),
    SynthCommand.Create(),
    TestCommand.Create(),
    UpCommand.Create(),
    VersionsCommand.Create(),
};
// Termination signals are left to the commands: `gid up` and `gid silo` drain on SIGTERM through
// the ASP.NET host (System.CommandLine would otherwise end the process 2 s after the signal).
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
