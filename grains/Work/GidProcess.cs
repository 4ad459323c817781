using System.Diagnostics;

namespace GidCluster.Grains.Work;

/// <summary>
/// Work that needs torch runs in <c>gid</c> child processes (training ranks, animations): a native crash or a leak
/// ends that process, not the silo, and its threads are its own. The silo finds <c>gid.dll</c> beside its assembly.
/// </summary>
public static class GidProcess
{
    /// <summary>The <c>gid</c> client beside this silo's assembly; <paramref name="purpose"/> says what it was wanted for.</summary>
    public static string Assembly(string purpose)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "gid.dll");
        return File.Exists(path) ? path
            : throw new InvalidOperationException($"this silo cannot {purpose}: no gid.dll in {AppContext.BaseDirectory} (run the embedded cluster with `gid up`)");
    }

    /// <summary>Start info for <c>dotnet gid.dll ARGS…</c> with stdout and stderr redirected.</summary>
    public static ProcessStartInfo StartInfo(string purpose, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Assembly(purpose));
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>
    /// Runs <c>gid ARGS…</c> to its end (killed with its children when <paramref name="cancel"/> fires) and returns its
    /// exit code with the last lines of its stderr.
    /// </summary>
    public static async Task<(int ExitCode, string Errors)> RunAsync(string purpose, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, CancellationToken cancel)
    {
        var start = StartInfo(purpose, args);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start gid to {purpose}");
        var tail = new Queue<string>();
        var errors = ReadErrorTailAsync(process, tail);
        // Its progress bars are for a person at a terminal; read and dropped so the pipe never fills.
        var output = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(cancel);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        await Task.WhenAll(errors, output);
        lock (tail) return (process.ExitCode, string.Join(" | ", tail));
    }

    /// <summary>Keeps the last five lines of a process's stderr in <paramref name="tail"/>, without stack frames.</summary>
    public static async Task ReadErrorTailAsync(Process process, Queue<string> tail)
    {
        while (await process.StandardError.ReadLineAsync() is { } line)
        {
            // Stack frames (managed, and libtorch's native ones) would push the exception's message out of the tail.
            var trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed.StartsWith("at ", StringComparison.Ordinal) || trimmed.StartsWith("--- End of", StringComparison.Ordinal)
                || trimmed.StartsWith("frame #", StringComparison.Ordinal))
                continue;
            lock (tail)
            {
                tail.Enqueue(line);
                if (tail.Count > 5) tail.Dequeue();
            }
        }
    }
}
