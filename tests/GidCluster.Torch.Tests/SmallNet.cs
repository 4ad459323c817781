using GidCluster.Training.Tensors;
using TorchSharp.Modules;

namespace GidCluster.Torch.Tests;

/// <summary>A small conv net used by the optimizer, checkpoint, memory and data-parallel tests (same in Python: <see cref="PythonDefinition"/>).</summary>
public sealed class SmallNet : nn.Module<Tensor, Tensor>
{
    private readonly ChannelPaddedConv2d conv1;
    private readonly AutocastGroupNorm norm;
    private readonly ChannelPaddedConv2d conv2;
    private readonly Linear head;

    public SmallNet() : base(nameof(SmallNet))
    {
        conv1 = Layers.Conv2d(3, 8, 3, padding: 1);
        norm = Layers.GroupNorm(2, 8);
        conv2 = Layers.Conv2d(8, 8, 3, stride: 2, padding: 1);
        head = nn.Linear(8, 2);
        // Declaration order, as Python's state_dict has it (RegisterComponents would order by type).
        register_module(nameof(conv1), conv1);
        register_module(nameof(norm), norm);
        register_module(nameof(conv2), conv2);
        register_module(nameof(head), head);
    }

    /// <summary>[B, 3, H, W] → [B, 2].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = F.silu(norm.call(conv1.call(x)));
        h = F.silu(conv2.call(h)).mean([2, 3]);
        return head.call(h).MoveToOuterDisposeScope();
    }

    public const string PythonDefinition = """

        import torch.nn as nn, torch.nn.functional as F, math
        class SmallNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
                self.norm = nn.GroupNorm(2, 8)
                self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
                self.head = nn.Linear(8, 2)
            def forward(self, x):
                h = F.silu(self.norm(self.conv1(x)))
                h = F.silu(self.conv2(h)).mean((2, 3))
                return self.head(h)
        def warmup_cosine(warmup, total, min_ratio=0.0):
            def f(s):
                if s < warmup: return s / warmup
                p = min(1.0, (s - warmup) / (total - warmup))
                return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p))
            return f
        """;

    /// <summary>AdamW's per-parameter state, in parameter order.</summary>
    public static IReadOnlyList<AdamW.State> AdamState(optim.Optimizer opt) =>
        ((OptimizerHelper)opt).state_dict().State.Cast<AdamW.State>().ToList();
}
