using System.CommandLine;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Synthetic;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid synth --out DIR</c>: seeded synthetic videos with known oscillating motion (MP4 + JSON
/// sidecar with the exact displacement parameters and true spectra). With <c>--evaluate</c> it
/// also measures every flow algorithm's end-point error and cost on them (the table behind the
/// default flow setting).
/// </summary>
public static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Output folder.", Required = true };
        var seed = new Option<int>("--seed") { Description = "First seed (video i uses seed+i).", DefaultValueFactory = _ => 1 };
        var count = new Option<int>("--count") { Description = "How many videos.", DefaultValueFactory = _ => 1 };
        var frames = new Option<int>("--frames") { Description = "Frames per video (30 fps).", DefaultValueFactory = _ => 160 };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 256 };
        var height = new Option<int>("--height") { DefaultValueFactory = _ => 160 };
        var regions = new Option<int>("--regions") { Description = "Oscillating regions per scene.", DefaultValueFactory = _ => 3 };
        var crf = new Option<int>("--crf") { Description = "libx264 quality (0 = lossless).", DefaultValueFactory = _ => 10 };
        var evaluate = new Option<bool>("--evaluate") { Description = "Measure each flow method's end-point error and cost on the videos." };
        var methods = new Option<string>("--methods")
        {
            Description = "Methods for --evaluate (comma list; each may carry @WxH for the flow resolution).",
            DefaultValueFactory = _ => "dis-ultrafast,dis-fast,dis-medium,dis-medium;vr=0,dis-medium;fs=0,farneback,deepflow,tvl1,dis-medium@512x320,farneback@512x320",
        };
        var evalSize = new Option<string?>("--eval-size") { Description = "Output resolution WxH the error is measured at (default: the video's)." };
        var offsets = new Option<string>("--offsets") { Description = "Offsets t for --evaluate.", DefaultValueFactory = _ => "1,5,10,20,37,50,75,100,125,149" };
        var command = new Command("synth", "Make synthetic videos with known oscillating motion (MP4 + JSON ground truth).")
        {
            output, seed, count, frames, width, height, regions, crf, evaluate, methods, offsets, evalSize,
        };
        command.SetAction(parse =>
        {
            var dir = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(dir);
            var made = new List<(SyntheticScene Scene, string Path)>();
            for (var i = 0; i < parse.GetValue(count); i++)
            {
                var s = parse.GetValue(seed) + i;
                var scene = SyntheticScene.Random(s, parse.GetValue(width), parse.GetValue(height), parse.GetValue(frames), parse.GetValue(regions));
                var path = Path.Combine(dir, $"synth_{s:D4}.mp4");
                SyntheticVideo.Write(scene, path, parse.GetValue(crf));
                Console.WriteLine($"{path} ({scene.Frames} frames, {scene.Regions.Count} regions) + {Path.ChangeExtension(path, ".json")}");
                made.Add((scene, path));
            }
            if (parse.GetValue(evaluate))
                Evaluate(made, parse.GetValue(methods)!, parse.GetValue(offsets)!, parse.GetValue(evalSize));
            return 0;
        });
        return command;
    }

    private static (int W, int H) Size(string text)
    {
        var parts = text.Split('x');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }

    private static void Evaluate(List<(SyntheticScene Scene, string Path)> videos, string methodList, string offsetList, string? evalSize)
    {
        var offsets = offsetList.Split(',').Select(int.Parse).ToList();
        var table = new Table().AddColumns("method", "flow res", "mean EPE (px)", "p95 EPE (px)", "ms/flow (2 threads)", "flows");
        foreach (var spec in methodList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (name, res) = spec.Contains('@') ? (spec[..spec.IndexOf('@')], spec[(spec.IndexOf('@') + 1)..]) : (spec, "");
            var flow = FlowParams.Parse(name.Replace(';', ','));
            var scores = videos.Select(v =>
            {
                var (w, h) = evalSize != null ? Size(evalSize) : (v.Scene.Width, v.Scene.Height);
                var (fw, fh) = res.Length > 0 ? Size(res) : (w, h);
                return FlowEvaluation.Evaluate(v.Scene, v.Path, flow, fw, fh, offsets, threads: Environment.ProcessorCount, width: w, height: h);
            }).ToList();
            var first = scores[0];
            table.AddRow(first.Method, $"{first.FlowWidth}x{first.FlowHeight}", $"{scores.Average(s => s.MeanEpe):0.000}",
                $"{scores.Average(s => s.P95Epe):0.000}", $"{scores.Average(s => s.MsPerFlow):0.0}", $"{scores.Sum(s => s.Flows)}");
            Console.WriteLine($"evaluated {first.Method} at {first.FlowWidth}x{first.FlowHeight}: mean EPE {scores.Average(s => s.MeanEpe):0.000} px, {scores.Average(s => s.MsPerFlow):0.0} ms/flow");
        }
        AnsiConsole.Write(table);
    }
}
