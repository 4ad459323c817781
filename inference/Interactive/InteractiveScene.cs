using System.Diagnostics;
using GidCluster.Inference.Models;
using GidCluster.Inference.Motion;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Interactive;

/// <summary>One rendered frame of the interactive scene: JPEG bytes and what the simulation was doing.</summary>
public sealed record SceneFrame(byte[] Jpeg, double SimulationTime, double MaxDisplacement, double Energy, double RenderMilliseconds);

/// <summary>
/// A picture made interactive (paper §6): its sampled spectral volume as a modal basis (<see cref="ModalDynamics"/>),
/// advanced in real time, each frame's displacement field rendered by the renderer. Thread-safe: requests serialize.
/// </summary>
public sealed class InteractiveScene : IDisposable
{
    private readonly ModelBundle _model;
    private readonly ModalDynamics _dynamics;
    private readonly Tensor _image;        // [1, 3, H, W] in [0, 1]
    private readonly Tensor _importance;   // [1, 1, H, W]
    private readonly List<Tensor> _features; // the renderer's pyramid of the picture, computed once: only the flow changes per frame
    private readonly double _maxStep;
    private readonly object _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private double _lastWall;

    /// <param name="image">The picture, <c>[1, 3, H, W]</c> in [0, 1] (copied).</param>
    /// <param name="volume">Its raw spectral volume, <c>[K, 4, H, W]</c>.</param>
    public InteractiveScene(ModelBundle model, Tensor image, Tensor volume, double decayPerSecond, double maxStepSeconds = 1 / 60.0)
    {
        _model = model;
        var d = model.Description;
        _dynamics = new ModalDynamics(volume, d.FrequenciesHz, d.PeriodFrames, decayPerSecond);
        _image = image.detach().clone();
        _importance = MotionTexture.Importance(volume.unsqueeze(0), d.PeriodFrames);
        using (no_grad())
            _features = model.Renderer.Encode(_image);
        _maxStep = maxStepSeconds;
    }

    public int Width => _dynamics.Width;
    public int Height => _dynamics.Height;

    public void Drag(int x, int y, double dx, double dy)
    {
        lock (_gate)
        {
            Advance();
            _dynamics.Drag(x, y, dx, dy);
        }
    }

    public void Release()
    {
        lock (_gate)
        {
            Advance();
            _dynamics.Release();
        }
    }

    /// <summary>Brings the simulation up to wall-clock time (steps of at most the max step, so fast modes stay resolved) and renders.</summary>
    public SceneFrame Render()
    {
        lock (_gate)
        {
            Advance();
            var started = Stopwatch.GetTimestamp();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var flow = _dynamics.Displacements();
            var frame = _model.Renderer.Synthesize(_features, flow, _importance);
            var jpeg = Rendering.Picture.Encode(".jpg", Width, Height, Rendering.Picture.ToRgb(frame));
            var max = flow.pow(2).sum(1).sqrt().max().item<float>();
            return new SceneFrame(jpeg, _dynamics.Time, max, _dynamics.Energy(), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    private void Advance()
    {
        var now = _clock.Elapsed.TotalSeconds;
        var span = now - _lastWall;
        _lastWall = now;
        if (span <= 0) return;
        var steps = (int)Math.Ceiling(span / _maxStep);
        for (var i = 0; i < steps; i++)
            _dynamics.Step(span / steps);
    }

    public void Dispose()
    {
        _dynamics.Dispose();
        _image.Dispose();
        _importance.Dispose();
        foreach (var f in _features) f.Dispose();
    }
}
