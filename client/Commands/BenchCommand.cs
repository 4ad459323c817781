using System.CommandLine;
using System.Reflection;
using GidCluster.Client.Benchmarks;

namespace GidCluster.Client.Commands;

/// <summary><c>gid bench NAME</c>: speed and memory targets, measured against their references in one run.</summary>
public static class BenchCommand
{
    public static IReadOnlyList<IBenchmark> All { get; } = typeof(IBenchmark).Assembly.GetTypes()
        .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
        .OrderBy(b => b.Name, StringComparer.Ordinal)
        .ToList();

    public static Command Create()
    {
        var name = new Argument<string?>("name") { Description = "Which benchmark (see --list).", Arity = ArgumentArity.ZeroOrOne };
        var list = new Option<bool>("--list") { Description = "List the benchmarks." };
        var rest = new Argument<string[]>("args") { Description = "Arguments passed to the benchmark.", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("bench", "Run a benchmark that compares us with its reference side by side and ends with a BENCH {json} line.")
        {
            name, rest, list,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var chosen = parse.GetValue(name);
            if (parse.GetValue(list) || chosen == null)
            {
                if (All.Count == 0)
                    Console.WriteLine("No benchmarks are built yet.");
                foreach (var b in All)
                    Console.WriteLine($"{b.Name,-12} {b.Description}");
                return chosen == null && !parse.GetValue(list) ? 1 : 0;
            }
            var benchmark = All.FirstOrDefault(b => b.Name == chosen);
            if (benchmark == null)
            {
                Console.Error.WriteLine($"gid bench: no benchmark named '{chosen}'. Available: {(All.Count == 0 ? "none yet" : string.Join(", ", All.Select(b => b.Name)))}");
                return 2;
            }
            var root = RepoPaths.Root();
            var scratch = Path.Combine(root, "build", "bench", benchmark.Name);
            Directory.CreateDirectory(scratch);
            var context = new BenchContext(root, Path.GetFullPath(Path.Combine(root, "..", "shared")), scratch, parse.GetValue(rest) ?? []);
            return await benchmark.RunAsync(context, cancel);
        });
        return command;
    }
}
