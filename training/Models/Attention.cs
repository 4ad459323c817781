using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// Multi-head self-attention over a token sequence, <c>[N, L, C]</c> → <c>[N, L, C]</c>: one <c>to_qkv</c>
/// projection (the same packing as <c>nn.MultiheadAttention.in_proj_weight</c>), softmax(QKᵀ/√d)V per head,
/// and <c>proj_out</c>. Shared by <see cref="SpatialAttention"/> and <see cref="FrequencyAttention"/>.
/// </summary>
public sealed class MultiHeadSelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly AutocastLinear to_qkv;
    private readonly AutocastLinear proj_out;
    private readonly long _heads;

    public MultiHeadSelfAttention(long channels, long heads, bool zeroOutput = false) : base(nameof(MultiHeadSelfAttention))
    {
        if (heads <= 0 || channels % heads != 0)
            throw new ArgumentException($"attention heads {heads} do not divide {channels} channels");
        _heads = heads;
        to_qkv = new AutocastLinear(channels, 3 * channels);
        proj_out = new AutocastLinear(channels, channels);
        register_module(nameof(to_qkv), to_qkv);
        register_module(nameof(proj_out), proj_out);
        if (zeroOutput)
        {
            // latent-diffusion's zero_module: the residual branch starts as an exact no-op.
            using var noGrad = no_grad();
            nn.init.zeros_(proj_out.weight);
            nn.init.zeros_(proj_out.bias!);
        }
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (n, l, c) = (x.shape[0], x.shape[1], x.shape[2]);
        var d = c / _heads;
        // [N, L, 3C] → 3 × [N, heads, L, d]
        var qkv = to_qkv.call(x).reshape(n, l, 3, _heads, d).permute(2, 0, 3, 1, 4);
        var (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        // Q scaled before the product, as nn.MultiheadAttention does; the products follow autocast, the softmax is float32.
        var weights = Autocast.Softmax(Autocast.MatMul(q.div(Math.Sqrt(d)), k.transpose(-2, -1)), -1);
        var h = Autocast.MatMul(weights, v).permute(0, 2, 1, 3).reshape(n, l, c);
        return proj_out.call(h).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Self-attention across the H·W positions of a feature map (used at low resolutions), residual:
/// <c>[B, C, H, W]</c> → <c>[B, C, H, W]</c>.
/// </summary>
public sealed class SpatialAttention : nn.Module<Tensor, Tensor>
{
    private readonly AutocastGroupNorm norm;
    private readonly MultiHeadSelfAttention attn;

    public SpatialAttention(long channels, long heads, long normGroups) : base(nameof(SpatialAttention))
    {
        norm = ResBlock.Norm(normGroups, channels);
        attn = new MultiHeadSelfAttention(channels, heads);
        register_module(nameof(norm), norm);
        register_module(nameof(attn), attn);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var tokens = norm.call(x).reshape(b, c, h * w).transpose(1, 2); // [B, H·W, C]
        var y = attn.call(tokens).transpose(1, 2).reshape(b, c, h, w);
        return (x + y).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Attention across the K frequency slices of each latent position (stage 2, paper §4.2), residual with a
/// zero-initialised output projection so a fresh layer is the identity:
/// <c>[B·K, C, H, W]</c> → <c>(B·H·W, K, C)</c> + frequency position embedding → attention → <c>[B·K, C, H, W]</c>.
/// </summary>
public sealed class FrequencyAttention : nn.Module<Tensor, long, Tensor>
{
    private readonly AutocastLayerNorm norm;
    private readonly Embedding pos_emb;
    private readonly MultiHeadSelfAttention attn;

    public FrequencyAttention(long channels, long heads, long maxFrequencies) : base(nameof(FrequencyAttention))
    {
        norm = new AutocastLayerNorm(channels);
        pos_emb = nn.Embedding(maxFrequencies, channels);
        attn = new MultiHeadSelfAttention(channels, heads, zeroOutput: true);
        register_module(nameof(norm), norm);
        register_module(nameof(pos_emb), pos_emb);
        register_module(nameof(attn), attn);
    }

    /// <param name="x"><c>[B·K, C, H, W]</c>, the K slices of each sample consecutive.</param>
    /// <param name="frequencies">K.</param>
    public override Tensor forward(Tensor x, long frequencies)
    {
        using var scope = NewDisposeScope();
        var (bk, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        if (frequencies <= 0 || bk % frequencies != 0)
            throw new ArgumentException($"batch of {bk} slices is not a multiple of K = {frequencies}");
        if (frequencies > pos_emb.weight!.shape[0])
            throw new ArgumentException($"K = {frequencies} exceeds the {pos_emb.weight!.shape[0]} frequency positions this layer was built for");
        var b = bk / frequencies;
        // [B, K, C, H, W] → [B, H, W, K, C] → [B·H·W, K, C]
        var tokens = x.reshape(b, frequencies, c, h, w).permute(0, 3, 4, 1, 2).reshape(b * h * w, frequencies, c);
        var positions = arange(frequencies, dtype: ScalarType.Int64, device: x.device);
        var y = attn.call(norm.call(tokens) + pos_emb.call(positions));
        var back = y.reshape(b, h, w, frequencies, c).permute(0, 3, 4, 1, 2).reshape(bk, c, h, w);
        return (x + back).MoveToOuterDisposeScope();
    }
}

/// <summary>The middle of a U-Net or autoencoder: ResBlock → spatial attention → ResBlock, <c>[B, C, h, w]</c> (+ <c>[B, E]</c> or null) → same.</summary>
public sealed class MidBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly ResBlock block_1;
    private readonly SpatialAttention attn;
    private readonly ResBlock block_2;

    public MidBlock(long channels, long heads, long normGroups, long embedDim = 0) : base(nameof(MidBlock))
    {
        block_1 = new ResBlock(channels, channels, normGroups, embedDim);
        attn = new SpatialAttention(channels, heads, normGroups);
        block_2 = new ResBlock(channels, channels, normGroups, embedDim);
        register_module(nameof(block_1), block_1);
        register_module(nameof(attn), attn);
        register_module(nameof(block_2), block_2);
    }

    public override Tensor forward(Tensor x, Tensor? emb)
    {
        using var h = block_1.call(x, emb);
        using var a = attn.call(h);
        return block_2.call(a, emb);
    }
}
