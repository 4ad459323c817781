using System.CommandLine;
using System.Globalization;
using GidCluster.Inference.Interactive;
using GidCluster.Inference.Models;
using GidCluster.Inference.Rendering;
using GidCluster.Inference.Sampling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid interact IMAGE --model RUN_OR_DIR</c>: samples the picture's spectral volume, then serves a page (a small Kestrel
/// host on loopback) where dragging a point of the picture and letting go makes the scene respond (modal dynamics).
/// </summary>
public static class InteractCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "The picture." };
        var model = ModelSource.Option();
        var renderer = ModelSource.RendererOption();
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1 (0: any free port).", DefaultValueFactory = _ => 0 };
        var seed = new Option<long>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var steps = new Option<int>("--steps") { Description = "DDIM steps.", DefaultValueFactory = _ => 250 };
        var guidance = new Option<double>("--guidance") { Description = "Classifier-free guidance weight w.", DefaultValueFactory = _ => 1.75 };
        var decay = new Option<double>("--decay") { Description = "Damping: the modes' decay rate α in 1/s (0: they ring forever).", DefaultValueFactory = _ => 0.8 };
        var command = new Command("interact", "Serve a page where you drag a point of the picture, let go, and the scene responds.") { image, model, renderer, port, seed, steps, guidance, decay };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction(async (parse, cancel) =>
        {
            var p = parse.GetValue(port);
            if (p is < 0 or > 65535) throw new ArgumentException($"--port {p}: must be 0…65535");
            var modelDir = await ModelSource.ResolveAsync(parse.GetValue(model)!, parse.GetValue(renderer), parse.GetValue(cluster), cancel);
            using var bundle = ModelBundle.Load(modelDir);
            var d = bundle.Description;
            var picture = Picture.Read(parse.GetValue(image)!, d.Width, d.Height);
            if (picture.Note is not null) Console.WriteLine(picture.Note);
            using var tensor = picture.ToTensor();
            TorchSharp.torch.Tensor? volumes = null;
            AnsiConsole.Progress().AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("sampling the spectral volume", maxValue: 1);
                    using var condition = tensor * 2 - 1;
                    volumes = VolumeSampler.Sample(bundle, condition, new VolumeSampling(parse.GetValue(steps), parse.GetValue(guidance), parse.GetValue(seed)),
                        (i, n) => { task.MaxValue = n; task.Value = i; });
                });
            using var volume = volumes!;
            using var scene = new InteractiveScene(bundle, tensor, volume[0], parse.GetValue(decay));
            await Serve(scene, p, cancel);
            return 0;
        });
        return command;
    }

    private static async Task Serve(InteractiveScene scene, int port, CancellationToken cancel)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}"); // loopback only: this page has no authentication
        await using var app = builder.Build();
        app.MapGet("/", () => Results.Content(Page(scene.Width, scene.Height), "text/html; charset=utf-8"));
        app.MapGet("/frame", (HttpResponse response) =>
        {
            var f = scene.Render();
            response.Headers["Cache-Control"] = "no-store";
            response.Headers["X-Sim-Time"] = f.SimulationTime.ToString("0.000", CultureInfo.InvariantCulture);
            response.Headers["X-Max-Displacement"] = f.MaxDisplacement.ToString("0.0000", CultureInfo.InvariantCulture);
            response.Headers["X-Energy"] = f.Energy.ToString("G6", CultureInfo.InvariantCulture);
            response.Headers["X-Render-Ms"] = f.RenderMilliseconds.ToString("0.0", CultureInfo.InvariantCulture);
            return Results.Bytes(f.Jpeg, "image/jpeg");
        });
        app.MapPost("/drag", (int x, int y, double dx, double dy) =>
        {
            if (x < 0 || x >= scene.Width || y < 0 || y >= scene.Height || !double.IsFinite(dx) || !double.IsFinite(dy))
                return Results.BadRequest($"drag ({x}, {y}) by ({dx}, {dy}) is outside the {scene.Width}×{scene.Height} picture");
            scene.Drag(x, y, dx, dy);
            return Results.NoContent();
        });
        app.MapPost("/release", () =>
        {
            scene.Release();
            return Results.NoContent();
        });
        await app.StartAsync(cancel);
        Console.WriteLine($"interactive page: {app.Urls.First()}/ (drag a point of the picture and let go; Ctrl+C stops)");
        try
        {
            await Task.Delay(Timeout.Infinite, cancel);
        }
        catch (OperationCanceledException)
        {
        }
        await app.StopAsync(CancellationToken.None);
    }

    /// <summary>The page: the frame as an image (scaled ×2), drag handlers, and a frame loop that keeps statistics for tests.</summary>
    private static string Page(int width, int height) => $$"""
        <!doctype html>
        <html><head><meta charset="utf-8"><title>gid interact</title>
        <style>body{font:14px sans-serif;background:#222;color:#ddd;margin:16px} img{image-rendering:auto;cursor:grab;border:1px solid #555;user-select:none}</style>
        </head><body>
        <h3>Drag a point of the picture and let go</h3>
        <img id="view" width="{{width * 2}}" height="{{height * 2}}" draggable="false" alt="scene">
        <p id="status">starting…</p>
        <script>
        "use strict";
        const W = {{width}}, H = {{height}}, view = document.getElementById("view"), status = document.getElementById("status");
        // Every frame's simulation time, largest displacement and arrival time: the headless test reads these.
        window.gidStats = { frames: 0, samples: [] };
        let start = null;
        const toPicture = e => { const r = view.getBoundingClientRect(); return [(e.clientX - r.left) * W / r.width, (e.clientY - r.top) * H / r.height]; };
        view.addEventListener("pointerdown", e => { start = toPicture(e); view.setPointerCapture(e.pointerId); });
        view.addEventListener("pointermove", e => {
          if (!start) return;
          const [x, y] = toPicture(e);
          const px = Math.min(W - 1, Math.max(0, Math.round(start[0]))), py = Math.min(H - 1, Math.max(0, Math.round(start[1])));
          fetch(`drag?x=${px}&y=${py}&dx=${x - start[0]}&dy=${y - start[1]}`, { method: "POST" });
        });
        const release = () => { if (start) { start = null; fetch("release", { method: "POST" }); } };
        view.addEventListener("pointerup", release);
        view.addEventListener("pointercancel", release);
        async function loop() {
          for (;;) {
            try {
              const r = await fetch("frame", { cache: "no-store" });
              const blob = await r.blob();
              const old = view.src;
              view.src = URL.createObjectURL(blob);
              if (old) URL.revokeObjectURL(old);
              const s = { at: performance.now(), sim: +r.headers.get("X-Sim-Time"), motion: +r.headers.get("X-Max-Displacement"), renderMs: +r.headers.get("X-Render-Ms") };
              window.gidStats.frames++;
              window.gidStats.samples.push(s);
              if (window.gidStats.samples.length > 5000) window.gidStats.samples.shift();
              const recent = window.gidStats.samples.filter(q => q.at > s.at - 1000).length;
              status.textContent = `${recent} fps · largest displacement ${s.motion.toFixed(2)} px · render ${s.renderMs.toFixed(0)} ms`;
            } catch (e) {
              status.textContent = "disconnected: " + e;
              await new Promise(r => setTimeout(r, 500));
            }
          }
        }
        loop();
        </script>
        </body></html>
        """;
}
