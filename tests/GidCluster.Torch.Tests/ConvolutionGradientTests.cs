using System.Runtime.CompilerServices;
using GidCluster.Training.Tensors;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Convolution input gradients against the exact sum (float64 loops, not libtorch): right with the
/// settings of <see cref="TorchRuntime.Initialize"/>; wrong with libtorch 2.10's oneDNN kernels on,
/// which is why they are off (when that case starts to pass, the workaround can go).
/// </summary>
public class ConvolutionGradientTests
{
#pragma warning disable CA2255 // this test assembly calls torch directly, before any training type may have loaded
    [ModuleInitializer]
    internal static void InitializeTorch() => TorchRuntime.Initialize();
#pragma warning restore CA2255

    /// <summary>Relative error of x.grad for Conv2d(2, 4, 3, padding 1) on a [batch, 2, 4, 4] input.</summary>
    internal static double InputGradientError(int batch)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        using var m = nn.Conv2d(2, 4, 3, padding: 1);
        var x = torch.randn([batch, 2, 4, 4]).requires_grad_();
        var y = m.call(x);
        var g = torch.randn(y.shape);
        y.backward([g]);
        var G = g.to(torch.float64).ToArray<double>();
        var W = m.weight.detach().to(torch.float64).ToArray<double>();
        var exact = new double[batch * 2 * 16];
        for (var n = 0; n < batch; n++)
            for (var c = 0; c < 2; c++)
                for (var i = 0; i < 4; i++)
                    for (var j = 0; j < 4; j++)
                    {
                        double s = 0;
                        for (var o = 0; o < 4; o++)
                            for (var ki = 0; ki < 3; ki++)
                                for (var kj = 0; kj < 3; kj++)
                                {
                                    int oi = i - ki + 1, oj = j - kj + 1;
                                    if (oi is >= 0 and < 4 && oj is >= 0 and < 4)
                                        s += G[((n * 4 + o) * 4 + oi) * 4 + oj] * W[((o * 2 + c) * 3 + ki) * 3 + kj];
                                }
                        exact[((n * 2 + c) * 4 + i) * 4 + j] = s;
                    }
        return PyTensors.RelativeError(x.grad!, torch.tensor(exact, [batch, 2, 4, 4]));
    }

    [Fact]
    public void Input_gradients_are_exact_with_the_runtime_settings()
    {
        Assert.False(TorchRuntime.OneDnnEnabled);
        for (var batch = 1; batch <= 4; batch++)
            Assert.True(InputGradientError(batch) < 1e-6, $"batch {batch}: {InputGradientError(batch):E2}");
    }

    [Fact]
    public void OneDnn_kernels_of_libtorch_2_10_get_them_wrong_here()
    {
        var result = Programs.Run("dotnet", [typeof(Worker).Assembly.Location, "onednn-conv"], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 0, result.Combined);
        var error = double.Parse(result.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(error > 0.01, $"with oneDNN on, batch 2 on one thread now gives {error:E2}: the oneDNN bug is gone, TorchRuntime can stop disabling it");
    }
}
