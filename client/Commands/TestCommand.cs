using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace GidCluster.Client.Commands;

/// <summary><c>gid test</c>: the whole test suite (every test project of the solution), with one summary line.</summary>
public static partial class TestCommand
{
    public static Command Create()
    {
        var filter = new Option<string?>("--filter") { Description = "Only tests matching this dotnet-test filter expression, e.g. FullyQualifiedName~Parquet." };
        var command = new Command("test", "Run the whole test suite (unit, integration against the real engines and servers).") { filter };
        command.SetAction(parse => Run(parse.GetValue(filter)));
        return command;
    }

    private static int Run(string? filter)
    {
        var root = RepoPaths.Root();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
        };
        // ./gid has built everything in Release already; the projects run one at a time because
        // several suites time work or start servers and the machine has few cores.
        foreach (var arg in new[] { "test", "GidCluster.sln", "-c", "Release", "--no-build", "-m:1" })
            start.ArgumentList.Add(arg);
        if (!string.IsNullOrEmpty(filter))
        {
            start.ArgumentList.Add("--filter");
            start.ArgumentList.Add(filter);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet test");
        // One summary per test assembly (keyed, so a repeated line is not counted twice).
        var summaries = new Dictionary<string, (int Passed, int Failed, int Skipped)>();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            Console.WriteLine(line);
            var m = SummaryLine().Match(line);
            if (m.Success)
                summaries[m.Groups["assembly"].Value] = (int.Parse(m.Groups["passed"].Value), int.Parse(m.Groups["failed"].Value), int.Parse(m.Groups["skipped"].Value));
        }
        process.WaitForExit();
        var (projects, passed, failed, skipped) = (summaries.Count, summaries.Values.Sum(s => s.Passed), summaries.Values.Sum(s => s.Failed), summaries.Values.Sum(s => s.Skipped));
        Console.WriteLine();
        Console.WriteLine($"{projects} test projects");
        Console.WriteLine($"{passed} passed, {failed} failed, {skipped} skipped");
        return process.ExitCode != 0 || failed > 0 || passed == 0 ? 1 : 0;
    }

    [GeneratedRegex(@"(Passed|Failed)!\s+-\s+Failed:\s+(?<failed>\d+),\s+Passed:\s+(?<passed>\d+),\s+Skipped:\s+(?<skipped>\d+).*?-\s+(?<assembly>\S+\.dll)")]
    private static partial Regex SummaryLine();
}
