using System.CommandLine;
using GidCluster.Client.Commands;

// Table of contents of the `gid` command line: one file per command under Commands/.
var root = new RootCommand("GidCluster: learn a generative prior over scene motion from videos, and animate still pictures.")
{
    BenchCommand.Create(),
    DataprepCommand.Create(),
    DemoCommand.Create(),
    SpectrumCommand.Create(),
    SynthCommand.Create(),
    TestCommand.Create(),
    VersionsCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
