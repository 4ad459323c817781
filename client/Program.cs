using System.CommandLine;
using GidCluster.Client.Commands;

// Table of contents of the `gid` command line: one file per command under Commands/.
var root = new RootCommand("GidCluster: learn a generative prior over scene motion from videos, and animate still pictures.")
{
    AnimateCommand.Create(),
    BenchCommand.Create(),
    CheckpointsCommand.Create(),
    DemoCommand.Create(),
    InspectCommand.Create(),
    InteractCommand.Create(),
    IngestCommand.Create(),
    RunsCommand.Create(),
    SiloCommand.Create(),
    DataprepCommand.Create(),
    SpectrumCommand.Create(),
    SynthCommand.Create(),
    TrainCommand.Create(),
    TestCommand.Create(),
    UpCommand.Create(),
    VersionsCommand.Create(),
};
// Termination signals are left to the commands: `gid up` and `gid silo` drain on SIGTERM through
// the ASP.NET host (System.CommandLine would otherwise end the process 2 s after the signal).
// Exceptions are left to UserErrors, so bad input ends in one line and exit code 2, not a stack trace.
var parsed = root.Parse(args);
if (UserErrors.FromParse(parsed) is { } parseError)
    return parseError;
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    return UserErrors.Report(parsed, e);
}
