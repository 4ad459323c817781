using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Work;
using GidCluster.Silo.Hosting;
using GidCluster.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GidCluster.Cluster.Tests;

/// <summary>Log lines of an in-process silo, kept so tests can grep them (e.g. for secrets).</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public string Text => string.Join('\n', _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose() { }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}

/// <summary>The real silo app, in this process, on a free loopback port.</summary>
public sealed class InProcessSilo : IAsyncDisposable
{
    private InProcessSilo(WebApplication app, SiloOptions options, CapturedLogs logs)
    {
        App = app;
        Options = options;
        Logs = logs;
        Http = new HttpClient { BaseAddress = new Uri(SiloHost.Address(app) + "/"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public WebApplication App { get; }
    public SiloOptions Options { get; }
    public CapturedLogs Logs { get; }
    public HttpClient Http { get; }
    public string Url => Http.BaseAddress!.ToString().TrimEnd('/');

    /// <summary>The silo's gateway as IP:PORT (what <c>--cluster</c> takes).</summary>
    public string Gateway => SiloHost.Gateway(Options);

    /// <summary>Grain calls from inside the silo.</summary>
    public IGrainFactory Grains => App.Services.GetRequiredService<IGrainFactory>();

    public const string Token = "test-token-4f9c2a7e1b";

    public static async Task<InProcessSilo> StartAsync(string store, string blob, IReadOnlyList<string> allowedRoots, string role = SiloRoles.All, ClusterTls? tls = null)
    {
        var options = new SiloOptions
        {
            Role = role,
            Store = store,
            Blob = blob,
            Urls = "http://127.0.0.1:0",
            SiloPort = FreePorts.Next(),
            GatewayPort = FreePorts.Next(),
            Token = Token,
            AllowedRoots = allowedRoots,
            Id = $"inproc-{Guid.NewGuid():N}"[..16],
            Slots = 2,
            Check = TimeSpan.FromSeconds(1),
            Reminder = TimeSpan.FromSeconds(2),
            // These tests exercise the cluster; the cheap pipeline keeps them quick (dataprep has its own).
            DefaultPipeline = FrameStatsProcessor.PipelineName,
            Tls = tls,
        };
        var logs = new CapturedLogs();
        var app = SiloHost.Build(options, l => l.AddProvider(logs));
        await SiloHost.StartAsync(app);
        return new InProcessSilo(app, options, logs);
    }

    public HttpRequestMessage Request(HttpMethod method, string path, string? json = null, string? token = Token)
    {
        var r = new HttpRequestMessage(method, path);
        if (token != null)
            r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (json != null)
            r.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return r;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
    }
}

/// <summary>A silo in its own process (the GidCluster.Silo program), for kill drills. Killed on dispose.</summary>
public sealed class SiloProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(string Text, TaskCompletionSource<string> Waiter)> _watchers = [];

    /// <param name="program">The silo program, or <c>gid.dll</c> to run <c>gid up</c> (then <paramref name="args"/> are gid's and no --id is added).</param>
    public SiloProcess(string id, IEnumerable<string> args, string? token = null, string program = "GidCluster.Silo.dll", IDictionary<string, string>? environment = null)
    {
        Id = id;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, program));
        foreach (var a in program == "GidCluster.Silo.dll" ? args.Concat(["--id", id]) : args)
            start.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
            start.Environment[k] = v;
        start.Environment.Remove("GID_TOKEN");
        if (token != null)
            start.Environment["GID_TOKEN"] = token;
        _process = Process.Start(start)!;
        void Read(string? line)
        {
            if (line == null)
                return;
            lock (_output)
            {
                _output.AppendLine(line);
                foreach (var (text, waiter) in _watchers)
                {
                    if (line.Contains(text, StringComparison.Ordinal))
                        waiter.TrySetResult(line);
                }
            }
            if (line.Contains(" listening on ", StringComparison.Ordinal) || line.StartsWith("  url:", StringComparison.Ordinal))
                _listening.TrySetResult(line[(line.LastIndexOf(' ') + 1)..]);
        }
        _process.OutputDataReceived += (_, e) => Read(e.Data);
        _process.ErrorDataReceived += (_, e) => Read(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _process.EnableRaisingEvents = true;
        _process.Exited += (_, _) => _listening.TrySetException(new InvalidOperationException($"silo {id} exited before listening:\n{Output}"));
    }

    public string Id { get; }

    public int Pid => _process.Id;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Waits (bounded) until the silo listens; returns its URL.</summary>
    public async Task<string> ListeningAsync(TimeSpan? limit = null) => await _listening.Task.WaitAsync(limit ?? TimeSpan.FromSeconds(60));

    /// <summary>Waits (bounded) for the next output line containing <paramref name="text"/>.</summary>
    public async Task<string> NextLineAsync(string text, TimeSpan limit)
    {
        var waiter = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_output)
            _watchers.Add((text, waiter));
        try
        {
            return await waiter.Task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"silo {Id} printed no line with '{text}' within {limit}");
        }
        finally
        {
            lock (_output)
                _watchers.RemoveAll(w => w.Waiter == waiter);
        }
    }

    /// <summary>SIGKILL: no chance to release anything. Returns once it has exited and its last output lines are in <see cref="Output"/> (bounded).</summary>
    public void Kill()
    {
        _process.Kill();
        // WaitForExitAsync also reads the output pipes to their end; a timed WaitForExit does not.
        _process.WaitForExitAsync().Wait(TimeSpan.FromSeconds(10));
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int SysKill(int pid, int signal);

    /// <summary>SIGTERM, then waits (bounded) for a graceful exit; returns the exit code.</summary>
    public int Terminate(TimeSpan limit)
    {
        SysKill(_process.Id, 15);
        if (!_process.WaitForExit(limit))
            throw new TimeoutException($"silo {Id} did not stop within {limit} of SIGTERM:\n{Output}");
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            Kill();
        _process.Dispose();
    }
}

/// <summary>Synthetic test videos made by ffmpeg (test patterns with different lengths and hues).</summary>
public static class SyntheticVideos
{
    public static IReadOnlyList<string> Make(string dir, int count, int seconds = 3)
    {
        Directory.CreateDirectory(dir);
        var paths = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var path = Path.Combine(dir, $"clip{i:D2}.mp4");
            var r = Programs.Run("ffmpeg", ["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", $"testsrc2=size=640x360:rate=30:duration={seconds + i % 3}",
                "-vf", $"hue=h={i * 37}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1", path], TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, r.Stderr);
            paths.Add(path);
        }
        return paths;
    }
}

public static class Waits
{
    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds; fails after <paramref name="limit"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan limit, Func<string> describe)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit)
                throw new TimeoutException($"not within {limit}: {describe()}");
            await Task.Delay(50);
        }
    }
}
