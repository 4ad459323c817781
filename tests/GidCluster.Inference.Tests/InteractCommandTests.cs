using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using GidCluster.Inference.Rendering;

namespace GidCluster.Inference.Tests;

/// <summary><c>gid interact</c> as the real process, its page in headless Chromium: a scripted drag and release.</summary>
public sealed partial class InteractCommandTests
{
    [GeneratedRegex(@"interactive page: (?<url>http://127\.0\.0\.1:\d+/)")]
    private static partial Regex UrlLine();

    [Fact]
    public async Task In_chromium_a_drag_and_release_moves_the_scene_for_two_seconds_then_it_settles()
    {
        using var dir = Paths.NewTempDir("gid-interact");
        using var userData = Paths.NewTempDir("gid-chromium");
        var model = Path.Combine(dir.Path, "model");
        TinyModels.Write(model, seed: 17);
        var picture = Path.Combine(dir.Path, "p.png");
        var rgb = new byte[TinyModels.Width * TinyModels.Height * 3];
        for (var i = 0; i < rgb.Length; i++) rgb[i] = (byte)(i * 13 % 241);
        Picture.WriteImage(picture, TinyModels.Width, TinyModels.Height, rgb);

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "gid.dll"), "interact", picture, "--model", model, "--steps", "3", "--decay", "0.8" })
            start.ArgumentList.Add(a);
        using var gid = Process.Start(start)!;
        var url = new TaskCompletionSource<string>();
        var log = new System.Text.StringBuilder();
        gid.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (log) log.AppendLine(e.Data);
            if (UrlLine().Match(e.Data) is { Success: true } m) url.TrySetResult(m.Groups["url"].Value);
        };
        gid.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        gid.BeginOutputReadLine();
        gid.BeginErrorReadLine();
        try
        {
            var first = await Task.WhenAny(url.Task, Task.Delay(TimeSpan.FromMinutes(3)));
            Assert.True(first == url.Task, $"no page URL from gid interact:\n{log}");
            var pageUrl = await url.Task;
            var run = Programs.Run("node", [Path.Combine(Paths.Repo, "tests", "GidCluster.Inference.Tests", "interact.cjs")], TimeSpan.FromMinutes(3),
                workingDirectory: Path.Combine(Paths.Repo, "tests", "js"),
                environment: new Dictionary<string, string?> { ["GID_URL"] = pageUrl, ["GID_USER_DATA"] = userData.Path });
            var line = run.Stdout.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
            Assert.True(line != null && run.ExitCode == 0, $"exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}\n{log}");
            var r = JsonDocument.Parse(line["RESULT ".Length..]).RootElement;
            Assert.True(r.GetProperty("rest").GetDouble() < 0.05, line);                 // still before the drag
            Assert.True(r.GetProperty("peak").GetDouble() > 0.5, line);                  // the drag moved it
            Assert.True(r.GetProperty("movingForMs").GetDouble() >= 2000, line);          // ringing ≥ 2 s after release
            Assert.True(r.GetProperty("finalMotion").GetDouble() < 0.05, line);          // and then settled
        }
        finally
        {
            if (!gid.HasExited) gid.Kill(entireProcessTree: true);
            gid.WaitForExit();
        }
    }
}
