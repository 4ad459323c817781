using System.CommandLine;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Shards;

namespace GidCluster.Client.Commands;

/// <summary><c>gid inspect FILE</c>: a shard's schema, rows, row groups and one sample; or a manifest's summary.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "A Parquet shard, or manifest.json (or the folder holding it)." };
        var row = new Option<int>("--row") { Description = "Which sample of the shard to summarize.", DefaultValueFactory = _ => 0 };
        var verify = new Option<bool>("--verify") { Description = "For a manifest: check every shard's size and sha256." };
        var command = new Command("inspect", "Show a shard's schema, row count, row groups and a sample's summary, or a manifest's summary.")
        {
            file,
            row,
            verify,
        };
        command.SetAction(parse =>
        {
            // A bad file (missing, malformed Parquet or manifest, a row out of range) is reported by UserErrors: one line, exit 2.
            var path = parse.GetValue(file)!;
            if (!File.Exists(path) && !Directory.Exists(path))
                throw new FileNotFoundException($"{path}: no such file or folder");
            Console.Write(ShardInspector.Describe(path, parse.GetValue(row), parse.GetValue(verify)));
            return 0;
        });
        return command;
    }
}
