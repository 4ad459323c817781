using System.CommandLine;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Synthetic;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid synth --out DIR</c>: seeded synthetic videos with known oscillating motion (MP4 + JSON
/// sidecar with the exact displacement parameters and true spectra). With <c>--evaluate</c> it
/// also measures every flow algorithm's end-point error and cost on them (the table behind the
/// default flow setting). With <c>--corpus</c> it writes the learnable corpus instead
/// (<see cref="SyntheticCorpus"/>): objects whose motion follows their appearance by a rule, and
/// held-out pictures; <c>gid synth score</c> checks a dataprep output of such videos per object.
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
        var corpus = new Option<bool>("--corpus") { Description = "The learnable corpus: stalks, leaves and flames whose motion follows their appearance by --rule." };
        var rule = new Option<string>("--rule")
        {
            Description = $"Corpus rule, a comma list of {string.Join(", ", CorpusRule.Known.Keys)} (at most one per motion attribute).",
            DefaultValueFactory = _ => CorpusRule.Default,
        };
        var objects = new Option<int>("--objects") { Description = "Objects per corpus scene (fewer when they do not fit; said so).", DefaultValueFactory = _ => 4 };
        var heldout = new Option<int>("--heldout") { Description = "Corpus: held-out pictures (PNG + labels + true motion), seeds after the videos'.", DefaultValueFactory = _ => 0 };
        var noise = new Option<double>("--noise") { Description = "Corpus: sensor noise σ in grey levels.", DefaultValueFactory = _ => SyntheticCorpus.DefaultNoiseSigma };
        var command = new Command("synth", "Make synthetic videos with known motion (MP4 + JSON ground truth), or the learnable corpus (--corpus).")
        {
            output, seed, count, frames, width, height, regions, crf, evaluate, methods, offsets, evalSize, corpus, rule, objects, heldout, noise,
            ScoreCommand(),
        };
        command.SetAction(parse =>
        {
            var (n, w, h, f) = (parse.GetValue(count), parse.GetValue(width), parse.GetValue(height), parse.GetValue(frames));
            Require(n is >= 1 and <= 100_000, $"--count {n}: must be 1…100000");
            Require(w is >= 16 and <= 4096 && h is >= 16 and <= 4096, $"--width/--height {w}x{h}: each must be 16…4096");
            Require(f is >= 1 and <= 100_000, $"--frames {f}: must be 1…100000");
            Require(parse.GetValue(crf) is >= 0 and <= 51, $"--crf {parse.GetValue(crf)}: libx264 takes 0…51");
            Require(parse.GetValue(regions) is >= 0 and <= 64, $"--regions {parse.GetValue(regions)}: must be 0…64");
            Require(parse.GetValue(objects) is >= 1 and <= 64, $"--objects {parse.GetValue(objects)}: must be 1…64");
            Require(parse.GetValue(heldout) is >= 0 and <= 100_000, $"--heldout {parse.GetValue(heldout)}: must be 0…100000");
            Require(parse.GetValue(noise) is >= 0 and <= 64, $"--noise {parse.GetValue(noise)}: must be 0…64 grey levels");
            var dir = Path.GetFullPath(parse.GetValue(output)!);
            if (parse.GetValue(corpus))
            {
                WriteCorpus(dir, CorpusRule.Parse(parse.GetValue(rule)!), parse.GetValue(seed), n, parse.GetValue(heldout), w, h, f,
                    parse.GetValue(objects), parse.GetValue(noise), parse.GetValue(crf));
                return 0;
            }
            Directory.CreateDirectory(dir);
            var made = new List<(SyntheticScene Scene, string Path)>();
            for (var i = 0; i < n; i++)
            {
                var s = parse.GetValue(seed) + i;
                var scene = SyntheticScene.Random(s, w, h, f, parse.GetValue(regions));
                var path = Path.Combine(dir, $"synth_{s:D4}.mp4");
                SyntheticVideo.Write(scene, path, parse.GetValue(crf));
                Console.WriteLine($"{path} ({scene.Frames} frames, {scene.Regions.Count} regions) + {Path.ChangeExtension(path, ".json")}");
                foreach (var note in scene.Notes)
                    Console.WriteLine($"  note: {note}");
                made.Add((scene, path));
            }
            if (parse.GetValue(evaluate))
                Evaluate(made, parse.GetValue(methods)!, parse.GetValue(offsets)!, parse.GetValue(evalSize));
            return 0;
        });
        return command;
    }

    private static void Require(bool ok, string problem)
    {
        if (!ok)
            throw new ArgumentException(problem);
    }

    /// <summary>
    /// DIR/videos/corpus_SEED.mp4 (+ .json), DIR/heldout/heldout_SEED.png (+ _labels.png, .json) and
    /// DIR/corpus.json (the rule, the mappings and the counts).
    /// </summary>
    internal static void WriteCorpus(string dir, CorpusRule rule, int seed, int count, int heldout, int width, int height, int frames,
        int objects, double noise, int crf)
    {
        var videos = Directory.CreateDirectory(Path.Combine(dir, "videos")).FullName;
        var pictures = Directory.CreateDirectory(Path.Combine(dir, "heldout")).FullName;
        Console.WriteLine($"corpus rule {rule}:");
        foreach (var m in rule.Mappings)
            Console.WriteLine($"  {m}: {CorpusRule.Known[m]}");
        var placed = 0;
        for (var i = 0; i < count + heldout; i++)
        {
            // Held-out pictures take the seeds after the videos', so no picture is a frame of a training video.
            var s = seed + i;
            var (scene, truth) = SyntheticCorpus.Scene(s, rule, width, height, frames, objects, noise);
            placed += scene.Regions.Count;
            var bins = string.Join(",", truth.Objects.Select(o => $"{o.Kind}:{o.DominantBin}"));
            string path;
            if (i < count)
            {
                path = Path.Combine(videos, $"corpus_{s:D5}.mp4");
                // True spectra for every start frame dataprep takes by default.
                var clips = new DataprepOptions();
                var starts = Enumerable.Range(0, frames).Where(t => t % clips.StartStride == 0 && t + clips.ClipFrames < frames).DefaultIfEmpty(0).ToList();
                SyntheticVideo.Write(scene, path, crf, starts, corpus: truth);
            }
            else
            {
                path = Path.Combine(pictures, $"heldout_{s:D5}.png");
                SyntheticVideo.WritePicture(scene, path, truth);
            }
            Console.WriteLine($"{path} ({scene.Regions.Count} objects, bins {bins})");
            foreach (var note in scene.Notes)
                Console.WriteLine($"  note: {note}");
        }
        File.WriteAllText(Path.Combine(dir, "corpus.json"), System.Text.Json.JsonSerializer.Serialize(new
        {
            rule = rule.ToString(),
            mappings = rule.Mappings.ToDictionary(m => m, m => CorpusRule.Known[m]),
            frequency_bins = SyntheticCorpus.FrequencyBins,
            hue_centers_deg = SyntheticCorpus.HueCenters,
            first_seed = seed,
            videos = count,
            heldout_pictures = heldout,
            objects,
            width,
            height,
            frames,
            fps = 30,
            noise_sigma = noise,
        }, SyntheticVideo.Json));
        Console.WriteLine($"wrote {count} videos to {videos}, {heldout} held-out pictures to {pictures}, {placed} objects in all, and corpus.json");
    }

    /// <summary><c>gid synth score DIR</c>: does each object's recovered motion power sit at its true bin?</summary>
    private static Command ScoreCommand()
    {
        var input = new Argument<string>("dataset") { Description = "A gid dataprep output folder (or its manifest.json) made from gid synth videos." };
        var tolerance = new Option<int>("--tolerance") { Description = "Bins of slack.", DefaultValueFactory = _ => 1 };
        var command = new Command("score", "Compare each synthetic object's dominant recovered frequency bin with its true one (per sample).") { input, tolerance };
        command.SetAction(parse =>
        {
            var slack = parse.GetValue(tolerance);
            Require(slack is >= 0 and <= 15, $"--tolerance {slack}: must be 0…15 bins");
            var (scores, skipped) = ObjectSpectra.ScoreDataset(parse.GetValue(input)!);
            if (skipped.Count > 0)
                Console.WriteLine($"no sidecar, not scored: {string.Join(", ", skipped)}");
            if (scores.Count == 0)
                throw new InvalidDataException($"{parse.GetValue(input)}: no sample of a synthetic video with a sidecar to score");
            var table = new Table().AddColumns("video", "start", "object", "kind", "pixels", "true bin", "recovered bin", "");
            foreach (var s in scores)
            {
                table.AddRow(Markup.Escape(s.VideoId), $"{s.StartFrame}", $"{s.Region}", s.Kind, $"{s.Pixels}", $"{s.TrueBin}", $"{s.RecoveredBin}",
                    s.Within(slack) ? "[green]ok[/]" : "[red]off[/]");
            }
            AnsiConsole.Write(table);
            var hits = scores.Count(s => s.Within(slack));
            var exact = scores.Count(s => s.Within(0));
            Console.WriteLine($"objects within ±{slack} bin of the truth: {hits}/{scores.Count} ({(double)hits / scores.Count:P1}); exact: {exact}/{scores.Count} ({(double)exact / scores.Count:P1})");
            return 0;
        });
        return command;
    }

    private static (int W, int H) Size(string option, string text)
    {
        var parts = text.Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out var w) || !int.TryParse(parts[1], out var h) || w < 16 || h < 16)
            throw new FormatException($"{option} '{text}': expected WxH of at least 16x16, like 256x160");
        return (w, h);
    }

    private static void Evaluate(List<(SyntheticScene Scene, string Path)> videos, string methodList, string offsetList, string? evalSize)
    {
        var offsets = offsetList.Split(',').Select(t => int.TryParse(t, out var o) && o is >= 1 and <= 10_000 ? o
            : throw new FormatException($"--offsets '{offsetList}': expected a comma list of frame offsets ≥ 1")).ToList();
        var table = new Table().AddColumns("method", "flow res", "mean EPE (px)", "p95 EPE (px)", "ms/flow (2 threads)", "flows");
        foreach (var spec in methodList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (name, res) = spec.Contains('@') ? (spec[..spec.IndexOf('@')], spec[(spec.IndexOf('@') + 1)..]) : (spec, "");
            var flow = FlowParams.Parse(name.Replace(';', ','));
            var scores = videos.Select(v =>
            {
                var (w, h) = evalSize != null ? Size("--eval-size", evalSize) : (v.Scene.Width, v.Scene.Height);
                var (fw, fh) = res.Length > 0 ? Size($"--methods {spec}", res) : (w, h);
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
