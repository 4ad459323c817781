using System.Text.Json.Nodes;
using GidCluster.Dataprep.Shards;
using GidCluster.Dataprep.Synthetic;
using GidCluster.Inference;
using GidCluster.Inference.Models;
using GidCluster.Inference.Rendering;
using GidCluster.Training.Data;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Client.Commands;

/// <summary>
/// The demo's measurement on held-out pictures (issue: the model must beat the training set's mean spectrum): each
/// picture is animated plain and looping with the same seed; per object, the predicted volume's power per bin over
/// the object's interior (the synth's truth) gives its dominant bin and amplitude, scored against the truth and
/// against the baseline that predicts the mean spectrum of the training set for every object.
/// </summary>
internal static class DemoEvaluation
{
    /// <summary>DDIM steps for plain samples, and for loop-guided ones (fewer than the paper's 250/500, for the budget).</summary>
    public sealed record Budget(int Steps, int LoopSteps, double Seconds);

    public static JsonObject HeldOut(ModelBundle bundle, string manifestPath, IReadOnlyList<string> pictures, string outDir, Budget budget)
    {
        var d = bundle.Description;
        // The baseline: the training set's mean power per bin over every object of every sample (dataprep's volumes).
        var (training, _) = ObjectSpectra.ScoreDataset(manifestPath);
        if (training.Count == 0)
            throw new InvalidOperationException($"{manifestPath}: no object of the training set could be scored (no synth sidecars)");
        var bins = training[0].Power.Length;
        var mean = Enumerable.Range(0, bins).Select(k => training.Average(s => s.Power[k])).ToArray();
        var baselineBin = ObjectSpectra.DominantBin(mean);
        var baselineAmplitude = Amplitude(mean);

        var objects = new JsonArray();
        var loops = new JsonArray();
        int hits = 0, baselineHits = 0, count = 0;
        double ampError = 0, baselineAmpError = 0, psnrSum = 0, staticPsnrSum = 0;
        foreach (var (path, index) in pictures.Select((p, i) => (p, i)))
        {
            var sidecar = SyntheticSidecar.Read(Path.ChangeExtension(path, ".json"));
            var scene = sidecar.Scene;
            var picture = Picture.Read(path, d.Width, d.Height);
            var name = Path.GetFileNameWithoutExtension(path);
            var plainOptions = new AnimateOptions(Seconds: budget.Seconds, Seed: index, Steps: budget.Steps);
            var loopOptions = plainOptions with { Loop = true, LoopSteps = budget.LoopSteps };
            using var plain = Animate(bundle, picture, plainOptions, $"{name} plain");
            using var looped = Animate(bundle, picture, loopOptions, $"{name} loop");
            foreach (var (animation, suffix) in new[] { (plain, ""), (looped, ".loop") })
            {
                var stem = Path.Combine(outDir, name + suffix);
                MediaFiles.WriteVideo(stem + ".mp4", animation.Width, animation.Height, animation.Fps, animation.Frames);
                MediaFiles.WriteXtSlice(stem + ".xt.png", animation.Width, animation.Height, animation.Frames, animation.Height / 2);
            }
            MediaFiles.WriteSpectrumImage(Path.Combine(outDir, name + ".spectrum.png"), plain.Volume, d.FrequenciesHz);

            // Loop error L_g (paper Eq. 5) of both samples, same seed.
            var frames = loopOptions.SceneFrames(d.Fps);
            double LoopError(Tensor volume)
            {
                using var scope = NewDisposeScope();
                return MotionTexture.LoopLoss(volume.unsqueeze(0), frames, d.PeriodFrames).item<float>();
            }
            var (unguided, guided) = (LoopError(plain.Volume), LoopError(looped.Volume));
            loops.Add(new JsonObject { ["picture"] = name, ["unguided"] = unguided, ["guided"] = guided, ["ratio"] = guided / unguided });

            // Per object: predicted and true spectra at the scene's resolution.
            var scores = ObjectSpectra.Score(name, 0, AtSceneSize(plain.Volume, scene.Width, scene.Height), scene.Width, scene.Height, scene);
            var lines = new List<string>();
            foreach (var s in scores)
            {
                var truth = ObjectSpectra.TruePower(scene, s.Region, 0, bins);
                var trueAmplitude = Amplitude(truth);
                var predicted = Amplitude(s.Power);
                count++;
                hits += s.Within(1) ? 1 : 0;
                baselineHits += Math.Abs(baselineBin - s.TrueBin) <= 1 ? 1 : 0;
                ampError += Math.Abs(predicted - trueAmplitude) / trueAmplitude;
                baselineAmpError += Math.Abs(baselineAmplitude - trueAmplitude) / trueAmplitude;
                objects.Add(new JsonObject
                {
                    ["picture"] = name,
                    ["object"] = s.Region,
                    ["kind"] = s.Kind,
                    ["true_bin"] = s.TrueBin,
                    ["predicted_bin"] = s.RecoveredBin,
                    ["true_amplitude"] = trueAmplitude,
                    ["predicted_amplitude"] = predicted,
                });
                lines.Add($"{s.Kind} {s.Region}: true bin {s.TrueBin}, predicted {s.RecoveredBin}");
            }
            SpectrumComparison(Path.Combine(outDir, name + ".spectra.png"), scores, scene, bins, mean);

            // The animation against the scene's true frames at the same times, and the unmoved picture against them.
            var (psnr, staticPsnr) = Psnr(plain, picture, scene, d.Fps);
            psnrSum += psnr;
            staticPsnrSum += staticPsnr;
            Console.WriteLine($"   {name}: {string.Join("; ", lines)}; L_g {unguided:G3} → {guided:G3} with self-guidance; PSNR {psnr:F1} dB (still picture {staticPsnr:F1} dB)");
        }
        var ratios = loops.Select(l => (double)l!["ratio"]!).Order().ToList();
        return new JsonObject
        {
            ["dominant_bin_accuracy"] = count == 0 ? null : (double)hits / count,
            ["baseline_dominant_bin_accuracy"] = count == 0 ? null : (double)baselineHits / count,
            ["amplitude_rel_error"] = count == 0 ? null : ampError / count,
            ["baseline_amplitude_rel_error"] = count == 0 ? null : baselineAmpError / count,
            ["baseline_bin"] = baselineBin,
            ["objects_scored"] = count,
            ["loop_error_unguided"] = loops.Average(l => (double)l!["unguided"]!),
            ["loop_error_guided"] = loops.Average(l => (double)l!["guided"]!),
            ["loop_error_ratio"] = ratios.Count == 0 ? null : ratios[ratios.Count / 2],
            ["loop_error_ratio_max"] = ratios.Count == 0 ? null : ratios[^1],
            ["render_psnr_db"] = psnrSum / pictures.Count,
            ["still_picture_psnr_db"] = staticPsnrSum / pictures.Count,
            ["ddim_steps"] = budget.Steps,
            ["loop_steps"] = budget.LoopSteps,
            ["per_object"] = objects,
            ["per_picture_loop"] = loops,
        };
    }

    /// <summary>
    /// The VAE on the dataset's test-split volumes (all samples when the split has none), loaded as the trainer loads
    /// them (resized to the model's size, then normalized: S' = sign(S)·√(|S|/s_k), the space the VAE is trained in):
    /// mean |x̂ − x| / mean |x| over every slice, x̂ decoded from the posterior mean.
    /// </summary>
    public static double VaeError(ModelBundle bundle, string manifestPath, int maxSamples)
    {
        var d = bundle.Description;
        SampleLoader Loader(string? split) => SampleLoader.Open(manifestPath, new LoaderOptions
        {
            BatchSize = 1,
            Split = split,
            Shuffle = false,
            FlipProbability = 0,
            DropLast = false,
            FrameSize = [d.Width, d.Height],
        });
        var loader = Loader("test");
        if (loader.TotalSamples == 0)
            loader = Loader(null);
        double err = 0, norm = 0;
        using var noGrad = no_grad();
        foreach (var batch in loader.Epoch(0).Take(maxSamples))
        {
            using var scope = NewDisposeScope();
            var (_, volumes) = batch.ToTensors();
            var x = volumes[0];
            using var posterior = bundle.Vae.Encode(x);
            err += (bundle.Vae.Decode(posterior.Mean) - x).abs().mean().item<float>();
            norm += x.abs().mean().item<float>();
        }
        return norm == 0 ? double.NaN : err / norm;
    }

    private static Animation Animate(ModelBundle bundle, Picture picture, AnimateOptions options, string label) =>
        AnimateCommand.AnimateWithProgress(bundle, picture, options, label, keepBars: false);

    /// <summary>√(Σ_{k≥1} power_k): the motion's RMS amplitude without the static (DC) term.</summary>
    private static double Amplitude(IReadOnlyList<double> power) => Math.Sqrt(power.Skip(1).Sum());

    /// <summary>A predicted raw volume <c>[K, 4, h, w]</c> at the scene's size, in its pixels, as fp16 (ObjectSpectra's input).</summary>
    private static Half[] AtSceneSize(Tensor volume, int width, int height)
    {
        var (h, w) = ((int)volume.shape[2], (int)volume.shape[3]);
        return AreaResize.Volume(volume.contiguous().data<float>().ToArray(), h, w, height, width).Select(v => (Half)v).ToArray();
    }

    /// <summary>PSNR of the animation's frames against the scene's true frames at the same times (model size), and of the still picture.</summary>
    private static (double Animated, double Still) Psnr(Animation animation, Picture picture, SyntheticScene scene, double fps)
    {
        using var scope = NewDisposeScope();
        var (w, h) = (animation.Width, animation.Height);
        var frameBytes = w * h * 3;
        var truth = new byte[scene.Width * scene.Height * 3];
        double mse = 0, stillMse = 0;
        var count = Math.Min(animation.FrameCount, animation.Times.Length);
        for (var i = 0; i < count; i++)
        {
            var frame = (int)Math.Round(animation.Times[i] * scene.Fps / fps);
            if (frame >= scene.Frames) break;
            scene.Render(frame, truth);
            var t = tensor(truth.Select(b => (float)b).ToArray(), [1, scene.Height, scene.Width, 3]).permute(0, 3, 1, 2);
            var small = nn.functional.adaptive_avg_pool2d(t, [h, w]);
            var ours = tensor(animation.Frames.AsSpan(i * frameBytes, frameBytes).ToArray().Select(b => (float)b).ToArray(), [1, h, w, 3]).permute(0, 3, 1, 2);
            var still = tensor(picture.Rgb.Select(b => (float)b).ToArray(), [1, h, w, 3]).permute(0, 3, 1, 2);
            mse += (ours - small).square().mean().item<float>();
            stillMse += (still - small).square().mean().item<float>();
            count = i + 1;
        }
        static double Db(double m) => 10 * Math.Log10(255.0 * 255.0 / Math.Max(m, 1e-12));
        return (Db(mse / count), Db(stillMse / count));
    }

    /// <summary>
    /// Per object of one picture, one panel: power per bin, predicted (orange) beside true (blue) and the training
    /// mean (grey), each series scaled to its own peak so the shapes compare (the report has the amplitudes).
    /// </summary>
    private static void SpectrumComparison(string png, IReadOnlyList<ObjectScore> scores, SyntheticScene scene, int bins, double[] baseline)
    {
        const int panelHeight = 80, barWidth = 5, gap = 4, margin = 6;
        var width = margin * 2 + bins * (3 * barWidth + gap);
        var height = Math.Max(1, scores.Count) * (panelHeight + margin) + margin;
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, (byte)255);
        void Bar(int x0, int bottom, double fraction, (byte R, byte G, byte B) color)
        {
            var top = bottom - (int)Math.Round(Math.Clamp(fraction, 0, 1) * (panelHeight - 4));
            for (var y = top; y < bottom; y++)
                for (var x = x0; x < x0 + barWidth; x++)
                    (rgb[(y * width + x) * 3], rgb[(y * width + x) * 3 + 1], rgb[(y * width + x) * 3 + 2]) = color;
        }
        for (var i = 0; i < scores.Count; i++)
        {
            var truth = ObjectSpectra.TruePower(scene, scores[i].Region, 0, bins);
            var bottom = margin + (i + 1) * (panelHeight + margin) - margin;
            double Peak(IReadOnlyList<double> v) => Math.Max(v.Skip(1).Max(), 1e-12);
            var (pp, tp, bp) = (Peak(scores[i].Power), Peak(truth), Peak(baseline));
            for (var k = 1; k < bins; k++)
            {
                var x = margin + k * (3 * barWidth + gap);
                Bar(x, bottom, scores[i].Power[k] / pp, (230, 120, 20));
                Bar(x + barWidth, bottom, truth[k] / tp, (30, 90, 200));
                Bar(x + 2 * barWidth, bottom, baseline[k] / bp, (160, 160, 160));
            }
            for (var x = margin; x < width - margin; x++)
                (rgb[(bottom * width + x) * 3], rgb[(bottom * width + x) * 3 + 1], rgb[(bottom * width + x) * 3 + 2]) = ((byte)0, (byte)0, (byte)0);
        }
        Picture.WriteImage(png, width, height, rgb);
    }
}
