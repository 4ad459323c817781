using GidCluster.Training.Models;

namespace GidCluster.Torch.Tests;

/// <summary>
/// The perceptual term's VGG-16 reads a torchvision-layout state dict from a local file: Python writes one (random
/// weights, plus classifier keys we ignore) and computes the four taps itself; ours must agree within 1e-5.
/// </summary>
public sealed class PerceptualLossTests
{
    [Fact]
    public void Vgg16_features_load_from_a_torchvision_state_dict_and_match_python()
    {
        using var scope = torch.NewDisposeScope();
        using var dir = Paths.NewTempDir("gid-vgg");
        var weights = Path.Combine(dir.Path, "vgg16.pth");
        var taps = Path.Combine(dir.Path, "taps");
        var image = torch.rand(1, 3, 16, 16);
        PyTensors.Dump(new() { ["image"] = image }, Path.Combine(dir.Path, "image"));
        Programs.RunPython(PyTensors.DumpFunction + """

            import sys, torch.nn as nn
            torch.manual_seed(0)
            cfg, layers, c = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'], [], 3
            for v in cfg:
                if v == 'M': layers.append(nn.MaxPool2d(2, 2))
                else: layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]; c = v if v != 'M' else c
            features = nn.Sequential(*layers)
            state = {'features.' + k: v for k, v in features.state_dict().items()}
            state['classifier.0.weight'] = torch.randn(4, 4)
            torch.save(state, sys.argv[1])
            x = load(sys.argv[2])['image']
            mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1); std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
            h, out = (x - mean) / std, {}
            with torch.no_grad():
                for i, layer in enumerate(features[:23]):
                    h = layer(h)
                    if i in (3, 8, 15, 22): out[f'tap{i}'] = h.clone()
            dump(out, sys.argv[3])
            """, [weights, Path.Combine(dir.Path, "image"), taps], TimeSpan.FromMinutes(2));
        var expected = PyTensors.Load(taps);
        using var vgg = Vgg16Features.FromFile(weights);
        Assert.All(vgg.parameters(), p => Assert.False(p.requires_grad));
        List<Tensor> ours;
        using (torch.no_grad())
            ours = vgg.forward(image);
        int[] tapIndices = [3, 8, 15, 22];
        for (var i = 0; i < tapIndices.Length; i++)
            PyTensors.AssertClose(ours[i], expected[$"tap{tapIndices[i]}"], 1e-5, $"VGG-16 tap {tapIndices[i]}");

        using var loss = new RendererLoss(weights, 0.1, _ => { });
        Assert.True(loss.Perceptual);
        var other = torch.rand(1, 3, 16, 16);
        Assert.True(loss.Compute(other, image).item<float>() > (other - image).abs().mean().item<float>());
        var missing = Assert.Throws<FileNotFoundException>(() => Vgg16Features.FromFile(Path.Combine(dir.Path, "absent.pth")));
        Assert.Contains("absent.pth", missing.Message);
    }
}
