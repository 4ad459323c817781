using System.Diagnostics;
using System.Text;

namespace GidCluster.TestSupport;

/// <summary>Result of running a real program to completion.</summary>
public sealed record ProgramResult(int ExitCode, string Stdout, string Stderr)
{
    public string Combined => Stdout + Stderr;
}

/// <summary>Runs real programs (bash, python3, ffmpeg, node) with a hard time limit; a hung child is killed.</summary>
public static class Programs
{
    /// <summary>Debian's python3, which has torch, numpy and OpenCV: the independent numeric reference.</summary>
    public const string Python = "/usr/bin/python3";

    public static ProgramResult Run(
        string file,
        IEnumerable<string> args,
        TimeSpan? timeout = null,
        string? workingDirectory = null,
        IDictionary<string, string?>? environment = null,
        string? stdin = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin != null,
            WorkingDirectory = workingDirectory ?? Paths.Repo,
        };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        if (environment != null)
        {
            foreach (var (k, v) in environment)
            {
                if (v == null) start.Environment.Remove(k);
                else start.Environment[k] = v;
            }
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (stdin != null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        var limit = timeout ?? TimeSpan.FromMinutes(5);
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {limit}; stderr so far:\n{stderr}");
        }
        process.WaitForExit(); // drains the async readers
        return new ProgramResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs the real <c>gid</c> client built next to the tests (the test project references client/).</summary>
    public static ProgramResult Gid(params string[] args) =>
        Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), .. args], TimeSpan.FromMinutes(5));

    /// <summary>Runs a Python script (given as text) under Debian's python3 and returns stdout; throws with stderr on failure.</summary>
    public static string RunPython(string script, IEnumerable<string>? args = null, TimeSpan? timeout = null)
    {
        var result = Run(Python, new[] { "-c", script }.Concat(args ?? []), timeout);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"python3 failed ({result.ExitCode}):\n{result.Stderr}");
        return result.Stdout;
    }
}
