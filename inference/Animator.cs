using GidCluster.Inference.Models;
using GidCluster.Inference.Rendering;
using GidCluster.Inference.Sampling;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference;

/// <summary>
/// How to animate a picture. <see cref="Seconds"/> of the scene's time (at the model's fps), shown
/// <see cref="Slowmo"/> times slower (more frames, same fps), motion scaled by <see cref="Magnify"/>. A loop is
/// <see cref="Seconds"/> long: guided so F_T ≈ F_1, it shows τ = 1 … T−1 and then starts over.
/// </summary>
public sealed record AnimateOptions(
    double Seconds = 149 / 30.0,
    double Slowmo = 1,
    double Magnify = 1,
    long Seed = 0,
    bool Loop = false,
    int Steps = 250,
    double Guidance = 1.75,
    double LoopWeight = LoopOptions.DefaultWeight,
    int LoopSteps = LoopOptions.DefaultSteps,
    int LoopRecurrence = LoopOptions.DefaultRecurrence,
    int RenderBatch = 8)
{
    public void Validate()
    {
        if (!(Seconds > 0) || !double.IsFinite(Seconds) || Seconds > 600) throw new ArgumentOutOfRangeException(nameof(Seconds), $"--seconds {Seconds}: must be in (0, 600]");
        if (!(Slowmo >= 1) || Slowmo > 64) throw new ArgumentOutOfRangeException(nameof(Slowmo), $"--slowmo {Slowmo}: must be 1…64");
        if (!(Magnify > 0) || Magnify > 100) throw new ArgumentOutOfRangeException(nameof(Magnify), $"--magnify {Magnify}: must be in (0, 100]");
        if (RenderBatch < 1) throw new ArgumentOutOfRangeException(nameof(RenderBatch), $"render batch {RenderBatch}");
    }

    /// <summary>Scene frames T (loop length, or length of the clip) at <paramref name="fps"/>.</summary>
    public int SceneFrames(double fps) => Math.Max(2, (int)Math.Round(Seconds * fps));

    /// <summary>The times τ of the rendered frames.</summary>
    public double[] FrameTimes(double fps)
    {
        var span = Loop ? SceneFrames(fps) - 1 : SceneFrames(fps);
        return MotionTexture.FrameTimes((int)Math.Round(span * Slowmo), Slowmo);
    }

    public VolumeSampling Sampling(double fps) => new(Steps, Guidance, Seed,
        Loop ? new LoopOptions(SceneFrames(fps), LoopWeight, LoopRecurrence, LoopSteps) : null);
}

/// <summary>One animated picture: the raw spectral volume <c>[K, 4, H, W]</c> and the rendered frames (RGB8, back to back).</summary>
public sealed record Animation(Tensor Volume, double[] Times, byte[] Frames, int Width, int Height, double Fps) : IDisposable
{
    public int FrameCount => Frames.Length / (Width * Height * 3);
    public void Dispose() => Volume.Dispose();
}

/// <summary>Picture → spectral volume (DDIM) → motion texture → frames through the renderer (paper §5–6).</summary>
public static class Animator
{
    /// <summary><paramref name="progress"/> gets (phase, done, total) with phase "sampling" or "rendering".</summary>
    public static Animation Animate(ModelBundle model, Picture picture, AnimateOptions options, Action<string, int, int>? progress = null)
    {
        options.Validate();
        var d = model.Description;
        if (picture.Width != d.Width || picture.Height != d.Height)
            throw new ArgumentException($"picture is {picture.Width}×{picture.Height}; the model needs {d.Width}×{d.Height} (Picture.Read resizes)");
        using var image = picture.ToTensor();
        using var condition = image * 2 - 1;
        using var volumes = VolumeSampler.Sample(model, condition, options.Sampling(d.Fps), (i, n) => progress?.Invoke("sampling", i, n));
        var volume = volumes[0] * options.Magnify;
        var times = options.FrameTimes(d.Fps);
        using var frames = Render(model, image, volume.unsqueeze(0), times, options.RenderBatch, (i, n) => progress?.Invoke("rendering", i, n));
        return new Animation(volume, times, Picture.ToRgb(frames), d.Width, d.Height, d.Fps);
    }

    /// <summary>
    /// Frames <c>[T, 3, H, W]</c> in [0, 1]: <paramref name="image"/> <c>[1, 3, H, W]</c> in [0, 1] warped by the motion texture of
    /// <paramref name="volume"/> <c>[1, K, 4, H, W]</c> at <paramref name="times"/>, splatting weight from one period of the texture.
    /// </summary>
    public static Tensor Render(ModelBundle model, Tensor image, Tensor volume, IReadOnlyList<double> times, int batch = 8, Action<int, int>? progress = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var period = model.Description.PeriodFrames;
        var importance = MotionTexture.Importance(volume, period);
        var features = model.Renderer.Encode(image);   // I₀ is the same in every frame
        var frames = new List<Tensor>();
        for (var start = 0; start < times.Count; start += batch)
        {
            using var inner = NewDisposeScope();
            var chunk = times.Skip(start).Take(batch).ToArray();
            var flow = MotionTexture.Displacements(volume, chunk, period)[0];        // [b, 2, H, W]
            var rendered = model.Renderer.Synthesize(features, flow, importance);
            frames.Add(rendered.MoveToOuterDisposeScope());
            progress?.Invoke(Math.Min(start + batch, times.Count), times.Count);
        }
        return cat(frames, 0).MoveToOuterDisposeScope();
    }
}
