using System.Text.RegularExpressions;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Dataprep.Tests;

/// <summary>Inputs for <see cref="CommandLineErrorTests"/>: an empty folder, a text file named .mp4, malformed JSON documents.</summary>
public sealed class BadInputs : IDisposable
{
    public BadInputs()
    {
        Directory.CreateDirectory(Path.Combine(Dir.Path, "empty"));
        File.WriteAllText(Path.Combine(Dir.Path, "text.mp4"), "not a video\n");
        File.WriteAllText(Path.Combine(Dir.Path, "plain.txt"), "a file, not a folder\n");
        Directory.CreateDirectory(Path.Combine(Dir.Path, "garbage"));
        File.WriteAllText(Path.Combine(Dir.Path, "garbage", "manifest.json"), "{ not json");
        File.WriteAllText(Path.Combine(Dir.Path, "garbage", "spectrum.json"), "[1, 2");
    }

    public TempDir Dir { get; } = Paths.NewTempDir("gid-bad-input");

    public void Dispose() => Dir.Dispose();
}

/// <summary>
/// Every command reachable without a cluster, run as the real <c>gid</c> process with malformed
/// arguments and inputs (missing files, wrong types, empty folders, out-of-range numbers), ends
/// with a one-line error naming the input and exit code 2, never a stack trace. The cluster
/// commands take part with their argument-parsing failures and a stopped cluster.
/// </summary>
public partial class CommandLineErrorTests(BadInputs inputs) : IClassFixture<BadInputs>
{
    [GeneratedRegex(@"^\s+at \S+|Unhandled exception|^System\.[A-Za-z.]+Exception|internal error", RegexOptions.Multiline)]
    private static partial Regex StackTrace();

    [Theory]
    // wrong types, missing and unknown arguments (System.CommandLine's parse errors)
    [InlineData("--count", "synth --count abc --out {d}/x")]
    [InlineData("--out", "synth")]
    [InlineData("nosuch", "nosuch")]
    [InlineData("--videos abc", "demo --videos abc --out {d}/demo")]
    [InlineData("banana", "demo --rule banana --out {d}/demo")]
    [InlineData("--seed -1", "demo --seed -1 --out {d}/demo")]
    [InlineData("--filter", "test --filter")]
    [InlineData("--x", "versions --x")]
    [InlineData("dataset", "synth score")]
    [InlineData("inputs", "dataprep --out {d}/o")]
    [InlineData("--stride", "dataprep {d}/text.mp4 --out {d}/o --stride abc")]
    [InlineData("FILE", "inspect")]
    // out-of-range numbers and malformed values
    [InlineData("--count 0", "synth --count 0 --out {d}/x")]
    [InlineData("--frames -1", "synth --frames -1 --out {d}/x")]
    [InlineData("--width", "synth --width 5 --out {d}/x")]
    [InlineData("--crf 99", "synth --crf 99 --out {d}/x")]
    [InlineData("--objects 0", "synth --corpus --objects 0 --out {d}/x")]
    [InlineData("--noise -1", "synth --corpus --noise -1 --out {d}/x")]
    [InlineData("banana", "synth --corpus --rule banana --out {d}/x")]
    [InlineData("frequency twice", "synth --corpus --rule hue-frequency,size-frequency --out {d}/x")]
    [InlineData("--tolerance 99", "synth score {d}/empty --tolerance 99")]
    [InlineData("--flow-size '12'", "dataprep {d}/text.mp4 --out {d}/o --flow-size 12")]
    [InlineData("--flow-size 'axb'", "dataprep {d}/text.mp4 --out {d}/o --flow-size axb")]
    [InlineData("nonsense", "dataprep {d}/text.mp4 --out {d}/o --method nonsense")]
    [InlineData("workers", "dataprep {d}/text.mp4 --out {d}/o --workers 0")]
    [InlineData("nosuch", "bench nosuch")]
    // missing files, empty folders, files that are not what they claim
    [InlineData("{d}/plain.txt", "synth --out {d}/plain.txt/sub")]
    [InlineData("{d}/nope", "synth score {d}/nope")]
    [InlineData("{d}/empty", "synth score {d}/empty")]
    [InlineData("{d}/garbage/manifest.json", "synth score {d}/garbage")]
    [InlineData("no video files", "dataprep {d}/empty --out {d}/o")]
    [InlineData("{d}/nope", "spectrum {d}/nope --out {d}/s.png")]
    [InlineData("{d}/garbage/spectrum.json", "spectrum {d}/garbage --out {d}/s.png")]
    // cluster commands: argument parsing only (their runtime is another issue's)
    [InlineData("videos", "ingest submit")]
    [InlineData("job", "ingest status")]
    [InlineData("--bogus", "runs --bogus")]
    [InlineData("run", "checkpoints pull --out {d}/c")]
    [InlineData("--bogus", "up --bogus")]
    [InlineData("bogus", "silo --role bogus --store sqlite:{d}/s.db --blob file:{d}/b")]
    [InlineData("bogus", "train launch --stage bogus --dataset d")]
    [InlineData("--ranks", "train launch --stage vae --dataset d --ranks x")]
    [InlineData("bogus", "train launch --stage vae --dataset d --placement bogus")]
    [InlineData("--run", "train join")]
    [InlineData("RANK is not set", "train join --run r")]
    // a stopped cluster (nothing listens on the discard port): the client says it cannot reach the gateway
    [InlineData("cannot reach the cluster's gateway at 127.0.0.1:9", "runs --cluster 127.0.0.1:9")]
    [InlineData("cannot reach the cluster's gateway at 127.0.0.1:9", "train launch --stage vae --dataset d --cluster 127.0.0.1:9")]
    [InlineData("GID_NO_SUCH_VARIABLE is not set", "runs --cluster azure?connection-env=GID_NO_SUCH_VARIABLE")]
    // the picture commands: a missing picture, a missing model folder
    [InlineData("{d}/nope.png", "animate {d}/nope.png --model {d}/empty --out {d}/a.mp4")]
    [InlineData("{d}/nope", "interact {d}/plain.txt --model {d}/nope")]
    [InlineData("--renderer r", "animate {d}/plain.txt --model {d}/empty --renderer r --out {d}/a.mp4")]
    public void Bad_input_ends_in_one_line_naming_it_and_exit_code_2(string names, string command)
    {
        var args = command.Replace("{d}", inputs.Dir.Path).Split(' ');
        var result = Programs.Gid(args);
        var expected = names.Replace("{d}", inputs.Dir.Path);
        AssertOneLineError(result, args, expected, 2);
    }

    /// <summary>inspect names the file and the problem in one line, exit code 2, like every other command.</summary>
    [Theory]
    [InlineData("{d}/nope", "inspect {d}/nope")]
    [InlineData("{d}/text.mp4", "inspect {d}/text.mp4")]
    public void Inspect_reports_a_bad_file_in_one_line(string names, string command)
    {
        var args = command.Replace("{d}", inputs.Dir.Path).Split(' ');
        AssertOneLineError(Programs.Gid(args), args, names.Replace("{d}", inputs.Dir.Path), 2);
    }

    /// <summary>Videos that yield no sample: the statuses are written, the manifest (scales all zero) is not.</summary>
    [Fact]
    public void Dataprep_without_samples_writes_the_statuses_but_refuses_the_manifest()
    {
        var output = Path.Combine(inputs.Dir.Path, "no-samples");
        string[] args = ["dataprep", Path.Combine(inputs.Dir.Path, "text.mp4"), Path.Combine(inputs.Dir.Path, "missing.mp4"), "--out", output];
        var result = Programs.Gid(args);
        AssertOneLineError(result, args, "yielded no sample", 2);
        Assert.Contains("not writing manifest.json", result.Stderr);
        Assert.True(File.Exists(Path.Combine(output, "videos.json")));
        Assert.Contains("missing.mp4", File.ReadAllText(Path.Combine(output, "videos.json")));
        Assert.False(File.Exists(Path.Combine(output, "manifest.json")));
    }

    private static void AssertOneLineError(ProgramResult result, string[] args, string expected, int exitCode)
    {
        var shown = $"gid {string.Join(' ', args)} → exit {result.ExitCode}\nstdout:\n{result.Stdout}\nstderr:\n{result.Stderr}";
        Assert.False(StackTrace().IsMatch(result.Combined), shown);
        Assert.True(result.ExitCode == exitCode, shown);
        // Native libraries may print their own diagnostics first; gid's verdict is the last line, and only one.
        var last = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(last.StartsWith("gid", StringComparison.Ordinal) && last.Contains(expected, StringComparison.Ordinal), shown);
        Assert.Single(result.Stderr.Split('\n'), l => l.StartsWith("gid", StringComparison.Ordinal));
    }
}
