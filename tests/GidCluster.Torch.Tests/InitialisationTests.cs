using GidCluster.Training.Tensors;
using TorchSharp.Modules;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Every module type the models use has finite parameters initialised as PyTorch does right after
/// construction (TorchSharp 0.107.0's own GroupNorm does not: <see cref="Layers.GroupNorm"/>).
/// </summary>
public class InitialisationTests
{
    private static void AssertFinite(nn.Module m, string what)
    {
        foreach (var (name, p) in m.named_parameters())
            Assert.True(p.isfinite().all().item<bool>(), $"{what}: {name} has non-finite values right after construction");
    }

    /// <summary>Values within ±bound and actually spread over most of that range (a uniform init).</summary>
    private static void AssertUniform(Tensor t, double bound, string what)
    {
        var v = t.ToArray<float>();
        Assert.All(v, x => Assert.InRange(x, -bound, bound));
        Assert.True(v.Max() - v.Min() > 1.6 * bound, $"{what}: values span {v.Min()}..{v.Max()}, not ±{bound}");
    }

    [Fact]
    public void Linear_and_convolutions_use_kaiming_uniform_bounds()
    {
        using var linear = nn.Linear(64, 32);
        AssertFinite(linear, "Linear");
        AssertUniform(linear.weight, 1 / Math.Sqrt(64), "Linear weight");
        AssertUniform(linear.bias!, 1 / Math.Sqrt(64), "Linear bias");
        using var models = new AutocastLinear(64, 32); // the models' linear layer
        AssertFinite(models, "AutocastLinear");
        AssertUniform(models.weight, 1 / Math.Sqrt(64), "AutocastLinear weight");
        AssertUniform(models.bias!, 1 / Math.Sqrt(64), "AutocastLinear bias");
        using var conv = nn.Conv2d(16, 128, 3); // 128 biases: with 24 the span test failed ~3% of runs by chance
        AssertFinite(conv, "Conv2d");
        AssertUniform(conv.weight, 1 / Math.Sqrt(16 * 9), "Conv2d weight");
        AssertUniform(conv.bias!, 1 / Math.Sqrt(16 * 9), "Conv2d bias");
        // PyTorch's fan-in of a transposed convolution is weight.size(1) · k²: [in, out, k, k].
        using var up = nn.ConvTranspose2d(24, 16, 4, stride: 2, padding: 1);
        AssertFinite(up, "ConvTranspose2d");
        AssertUniform(up.weight, 1 / Math.Sqrt(16 * 16), "ConvTranspose2d weight");
    }

    [Fact]
    public void Norms_start_as_the_identity_affine_map()
    {
        for (var i = 0; i < 20; i++) // fresh allocations each time: uninitialised memory would show up somewhere
        {
            using var group = Layers.GroupNorm(4, 64);
            AssertFinite(group, "GroupNorm");
            Assert.All(group.weight.ToArray<float>(), w => Assert.Equal(1f, w));
            Assert.All(group.bias!.ToArray<float>(), b => Assert.Equal(0f, b));
        }
        using var layer = nn.LayerNorm(32);
        AssertFinite(layer, "LayerNorm");
        Assert.All(layer.weight!.ToArray<float>(), w => Assert.Equal(1f, w));
        Assert.All(layer.bias!.ToArray<float>(), b => Assert.Equal(0f, b));
        // The models' norms (Autocast*): the same start.
        using var modelGroup = new AutocastGroupNorm(4, 64);
        using var modelLayer = new AutocastLayerNorm(32);
        foreach (var (name, p) in modelGroup.named_parameters().Concat(modelLayer.named_parameters()))
            Assert.All(p.ToArray<float>(), v => Assert.Equal(name == "weight" ? 1f : 0f, v));
    }

    [Fact]
    public void Embedding_is_standard_normal_and_attention_is_xavier_with_zero_biases()
    {
        using var embedding = nn.Embedding(1000, 16);
        AssertFinite(embedding, "Embedding");
        var e = embedding.weight!.ToArray<float>();
        var mean = e.Average();
        var std = Math.Sqrt(e.Select(x => (x - mean) * (x - mean)).Average());
        Assert.InRange(mean, -0.03, 0.03);
        Assert.InRange(std, 0.97, 1.03);

        const int dim = 64;
        using var mha = nn.MultiheadAttention(dim, 4);
        AssertFinite(mha, "MultiheadAttention");
        var parameters = mha.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        AssertUniform(parameters["in_proj_weight"], Math.Sqrt(6.0 / (dim + 3 * dim)), "in_proj_weight");
        Assert.All(parameters["in_proj_bias"].ToArray<float>(), b => Assert.Equal(0f, b));
        Assert.All(parameters["out_proj.bias"].ToArray<float>(), b => Assert.Equal(0f, b));
        AssertUniform(parameters["out_proj.weight"], 1 / Math.Sqrt(dim), "out_proj.weight");
    }
}
