using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Optim;

/// <summary>
/// Exponential moving average of a module's parameters, ema ← decay·ema + (1 − decay)·param
/// (the sampling weights of diffusion training). TorchSharp has none.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    private readonly List<Parameter> _source;
    private readonly List<Tensor> _shadow;

    public ExponentialMovingAverage(nn.Module module, double decay)
    {
        if (decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(decay), decay, "decay must be in [0, 1]");
        Decay = decay;
        _source = module.parameters().ToList();
        using var noGrad = no_grad();
        _shadow = _source.Select(p => p.detach().clone().DetachFromDisposeScope()).ToList();
    }

    public double Decay { get; }

    public IReadOnlyList<Tensor> Shadow => _shadow;

    public void Update()
    {
        using var noGrad = no_grad();
        // Two Scalars for every parameter rather than two per parameter (implicit conversions each make one).
        using var decay = Decay.ToScalar();
        using var rest = (1 - Decay).ToScalar();
        for (var i = 0; i < _shadow.Count; i++)
            _shadow[i].mul_(decay).add_(_source[i], alpha: rest);
    }

    /// <summary>Copies the averaged weights into <paramref name="module"/> (same architecture).</summary>
    public void CopyTo(nn.Module module)
    {
        var targets = module.parameters().ToList();
        if (targets.Count != _shadow.Count)
            throw new ArgumentException($"module has {targets.Count} parameters, the EMA holds {_shadow.Count}", nameof(module));
        using var noGrad = no_grad();
        for (var i = 0; i < targets.Count; i++) targets[i].copy_(_shadow[i]);
    }

    public void Dispose()
    {
        foreach (var t in _shadow) t.Dispose();
    }
}
