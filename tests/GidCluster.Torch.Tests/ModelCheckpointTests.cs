using GidCluster.Training.Checkpoints;
using GidCluster.Training.Models;

namespace GidCluster.Torch.Tests;

/// <summary>
/// A stage-1 U-Net saved through the training checkpoint (TorchSharp.PyBridge) loads with <c>torch.load</c>, and a
/// Python script that rebuilds the network from the saved config alone (training/Reference/stage1_unet.py:
/// functional torch, attention through <c>F.multi_head_attention_forward</c>) computes the same ε within 1e-5.
/// </summary>
public sealed class ModelCheckpointTests
{
    /// <summary>
    /// With <c>bins_per_slice</c> 4 the slice has 16 latent channels and 4 slice indices; the replica knows only the
    /// weights' shapes. With <c>cond_film</c> every down and up ResBlock also has its FiLM weights (randomised, so a
    /// FiLM that did nothing would differ).
    /// </summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(4, false)]
    [InlineData(16, false)]
    [InlineData(1, true)]
    [InlineData(16, true)]
    public void Stage1_checkpoint_runs_in_python_torch_with_the_same_output(int binsPerSlice, bool film)
    {
        using var scope = torch.NewDisposeScope();
        using var dir = Paths.NewTempDir("gid-model-checkpoint");
        var config = ModelConfig.Load("tiny", [$"unet.bins_per_slice={binsPerSlice}", $"unet.cond_film={(film ? "true" : "false")}"]);
        var configPath = config.SaveTo(dir.Path);
        torch.manual_seed(7);
        using var unet = new UNet(config.Unet);
        ModelGoldenTests.Randomise(unet, 8, 0.1);
        using var opt = optim.Adam(unet.parameters(), 1e-3);
        var checkpoint = Path.Combine(dir.Path, "stage1.pt");
        TrainingCheckpoint.Save(checkpoint, unet, opt, new TrainingPosition(0, 0, 0));

        var noisy = torch.randn(3, 4 * binsPerSlice, 2, 4);
        var image = torch.rand(3, 3, 16, 32);
        var t = torch.tensor(new long[] { 3, 400, 999 });
        var k = torch.tensor(new long[] { 0, 7, 15 }).div(binsPerSlice, torch.RoundingMode.floor);
        var keep = torch.tensor(new[] { true, false, true });
        Tensor eps;
        using (torch.no_grad())
            eps = unet.forward(noisy, t, k, image, keep);
        var inputs = Path.Combine(dir.Path, "inputs");
        PyTensors.Dump(new() { ["noisy"] = noisy, ["image"] = image, ["t"] = t.to(ScalarType.Float32), ["k"] = k.to(ScalarType.Float32), ["keep"] = keep.to(ScalarType.Float32) }, inputs);
        var output = Path.Combine(dir.Path, "eps");
        Programs.RunPython(PyTensors.DumpFunction + Script, [configPath, checkpoint, inputs, output, Replica], TimeSpan.FromMinutes(2));
        PyTensors.AssertClose(eps, PyTensors.Load(output)["eps"], 1e-5, "stage-1 ε, ours vs python3-torch from the checkpoint");
    }

    /// <summary>The replica file ships beside the training assembly (training/Reference).</summary>
    private static string Replica => Path.Combine(AppContext.BaseDirectory, "Reference", "stage1_unet.py");

    private const string Script = """

        import sys, importlib.util
        spec = importlib.util.spec_from_file_location('stage1_unet', sys.argv[5]); unet = importlib.util.module_from_spec(spec); spec.loader.exec_module(unet)
        cfg = json.load(open(sys.argv[1]))['unet']
        sd = torch.load(sys.argv[2])['model']
        x = load(sys.argv[3])
        with torch.no_grad():
            eps = unet.eps(sd, cfg, x['noisy'], x['image'], x['t'], x['k'].long(), x['keep'].bool())
        dump({'eps': eps}, sys.argv[4])
        """;
}
