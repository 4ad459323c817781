using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using GidCluster.Training.Tensors;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Convolution (and the models' other layers) with oneDNN on and uncapped, as <see cref="Layers.Conv2d"/> computes it
/// (output channels padded to a multiple of 16): forward and gradients against the exact sum (float64 loops, not libtorch)
/// and against libtorch's float64 kernels (which oneDNN never runs). Also kept: the proof, in child processes, that
/// oneDNN 3.7.1's plain AVX-512 convolution gets input gradients wrong on this CPU, so the padding can go when that
/// stops being true. (oneDNN reads its ISA cap once, before its first primitive, so a run with another cap needs its own process.)
/// </summary>
public class ConvolutionGradientTests
{
#pragma warning disable CA2255 // this test assembly calls torch directly, before any training type may have loaded
    [ModuleInitializer]
    internal static void InitializeTorch() => TorchRuntime.Initialize();
#pragma warning restore CA2255

    /// <summary>Relative error of x.grad for Conv2d(2, 4, 3, padding 1) on a [batch, 2, 4, 4] input: plain <c>nn.Conv2d</c> or the models' <see cref="Layers.Conv2d"/>.</summary>
    internal static double InputGradientError(int batch, bool padded)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        var m = padded ? (nn.Module<Tensor, Tensor>)Layers.Conv2d(2, 4, 3, padding: 1) : nn.Conv2d(2, 4, 3, padding: 1);
        var weight = m.get_parameter("weight")!;
        var x = torch.randn([batch, 2, 4, 4]).requires_grad_();
        var y = m.call(x);
        var g = torch.randn(y.shape);
        y.backward([g]);
        var G = g.to(torch.float64).ToArray<double>();
        var W = weight.detach().to(torch.float64).ToArray<double>();
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
        var error = PyTensors.RelativeError(x.grad!, torch.tensor(exact, [batch, 2, 4, 4]));
        m.Dispose();
        return error;
    }

    private static readonly Dictionary<string, string?> Uncapped = new() { [TorchRuntime.OneDnnIsaVariable] = "ALL", ["DNNL_MAX_CPU_ISA"] = null };
    private static readonly Dictionary<string, string?> Default = new() { [TorchRuntime.OneDnnIsaVariable] = null, ["DNNL_MAX_CPU_ISA"] = null };

    private static ProgramResult Child(IDictionary<string, string?> environment, params string[] args)
    {
        var result = Programs.Run("dotnet", [typeof(Worker).Assembly.Location, .. args], TimeSpan.FromMinutes(5), environment: environment);
        Assert.True(result.ExitCode == 0, result.Combined);
        return result;
    }

    /// <summary>The <c>onednn-conv</c> child's exact-sum errors for batches 1-4: label ERRORS (plain conv2d) or PADDED (Layers.Conv2d).</summary>
    private static double[] ExactSumErrors(IDictionary<string, string?> environment, string label = "ERRORS") =>
        Child(environment, "onednn-conv").Stdout.Split('\n').Single(l => l.StartsWith(label + " ", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(e => double.Parse(e, CultureInfo.InvariantCulture)).ToArray();

    /// <summary>(cases, failed) from a <c>layer-probe</c> child's summary line.</summary>
    private static (int Cases, int Failed, string Output) Probe(IDictionary<string, string?> environment, params string[] args)
    {
        var output = Child(environment, ["layer-probe", .. args]).Stdout;
        var summary = output.Split('\n').Single(l => l.StartsWith("PROBE ", StringComparison.Ordinal)).Split(' ');
        return (int.Parse(summary[2], CultureInfo.InvariantCulture), int.Parse(summary[4], CultureInfo.InvariantCulture), output);
    }

    [Fact]
    public void The_runtime_keeps_oneDNN_on_and_leaves_its_ISA_to_the_user()
    {
        Assert.True(TorchRuntime.OneDnnEnabled);
        var own = new[] { TorchRuntime.OneDnnIsaVariable, "DNNL_MAX_CPU_ISA" }.Select(Environment.GetEnvironmentVariable).FirstOrDefault(v => !string.IsNullOrEmpty(v));
        Assert.Equal(own, TorchRuntime.OneDnnMaxIsa);
        // The documented override still caps it: oneDNN itself reports the ISA it runs with.
        var child = Child(new Dictionary<string, string?>(Default) { [TorchRuntime.OneDnnIsaVariable] = "AVX", ["ONEDNN_VERBOSE"] = "1" }, "onednn-conv").Stdout;
        Assert.Contains("max ISA AVX\n", child.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        var isa = child.Split('\n').First(l => l.Contains(",isa:", StringComparison.Ordinal));
        Assert.Matches(@",isa:Intel AVX\s*$", isa);
        Assert.Contains("max ISA (no cap)", Child(Default, "onednn-conv").Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Input_gradients_are_exact_with_the_runtime_settings()
    {
        for (var batch = 1; batch <= 4; batch++)
            Assert.True(InputGradientError(batch, padded: true) < 1e-6, $"batch {batch}: {InputGradientError(batch, padded: true):E2}");
        // One thread (a batch above the thread count is what went wrong), in a process configured by the runtime alone.
        var errors = ExactSumErrors(Default, "PADDED");
        Assert.True(errors.All(e => e < 1e-6), $"one thread, batches 1-4: {string.Join(", ", errors)}");
    }

    [Fact]
    public void Padded_convolutions_get_every_layer_of_the_models_right()
    {
        var failures = LayerProbe.BenchUNetLayers().Concat(LayerProbe.ModelLayers("tiny")).Concat(LayerProbe.WideInputs())
            .Select(c => (Case: c, Error: LayerProbe.WorstError(c, padded: true))).Where(r => !(r.Error <= LayerProbe.Tolerance)).ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures.Select(f => $"{f.Case}: {f.Error:E2}")));
    }

    [Fact]
    public void Padded_convolutions_get_the_small_shape_grids_right_on_one_thread()
    {
        var (cases, failed, output) = Probe(Default, "1", "padded", "grid", "wide");
        Assert.Equal(LayerProbe.Grid().Count() + LayerProbe.WideGrid().Count(), cases);
        Assert.True(failed == 0, output);
    }

    /// <summary>
    /// What this asserts depends on the CPU. With AVX-512 (where it was measured: AMD EPYC, oneDNN 3.7.1 in libtorch 2.10)
    /// plain oneDNN convolution (no padding) gets input gradients wrong: the exact-sum case at batch 2 on one thread and cases of the
    /// small-shape grid. Without AVX2, "no cap" selects at most the AVX kernels, so it must be right. With AVX2 but
    /// not AVX-512 it was never measured: the test only checks that the uncapped probe runs through and prints its count.
    /// </summary>
    [Fact]
    public void Plain_uncapped_oneDNN_gets_input_gradients_wrong_on_this_CPU()
    {
        var exact = ExactSumErrors(Uncapped);
        var (cases, failed, output) = Probe(Uncapped, "1", "grid");
        Assert.Equal(LayerProbe.Grid().Count(), cases);
        if (Avx512F.IsSupported)
        {
            const string gone = "the oneDNN bug is gone on this CPU: Layers.Conv2d can stop padding output channels";
            Assert.True(exact[1] > 0.01, $"uncapped, batch 2 on one thread now gives {exact[1]:E2}: {gone}");
            Assert.True(failed > 0, $"uncapped, no grid case is wrong any more: {gone}");
        }
        else if (!Avx2.IsSupported)
        {
            Assert.True(exact.All(e => e < 1e-6) && failed == 0, output);
        }
        Console.WriteLine($"uncapped oneDNN: exact-sum errors {string.Join(", ", exact)}; grid {failed} of {cases} wrong");
    }
}
