using TorchSharp;
using TorchSharp.Modules;

namespace GidCluster.Training.Optim;

/// <summary>
/// Linear warm-up to the base learning rate, then a half cosine down to <c>min_ratio</c> of it
/// (the schedule of the paper's training runs). TorchSharp has no such scheduler; this is the
/// factor for its <c>LambdaLR</c>, the same function Python uses through <c>LambdaLR</c>.
/// </summary>
public static class WarmupCosine
{
    public static double Factor(long step, long warmupSteps, long totalSteps, double minRatio = 0)
    {
        if (step < warmupSteps) return (double)step / warmupSteps;
        var progress = Math.Min(1.0, (double)(step - warmupSteps) / (totalSteps - warmupSteps));
        return minRatio + (1 - minRatio) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>A scheduler over <paramref name="optimizer"/>; call <c>step()</c> after each optimizer step.</summary>
    public static torch.optim.lr_scheduler.LRScheduler Create(torch.optim.Optimizer optimizer, long warmupSteps, long totalSteps, double minRatio = 0)
    {
        if (warmupSteps < 0 || totalSteps <= warmupSteps)
            throw new ArgumentException($"need 0 <= warmup steps ({warmupSteps}) < total steps ({totalSteps})");
        if (minRatio is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(minRatio), minRatio, "the final learning-rate ratio must be in [0, 1]");
        return torch.optim.lr_scheduler.LambdaLR(optimizer, step => Factor(step, warmupSteps, totalSteps, minRatio));
    }
}
