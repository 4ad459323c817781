using System.Collections;
using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// torchvision's VGG-16 <c>features</c> up to relu4_3 (layer names <c>features.0</c> … <c>features.22</c>, so a
/// torchvision <c>vgg16</c> state dict loads as is): <c>[B, 3, H, W]</c> in [0, 1] → relu1_2, relu2_2, relu3_3, relu4_3.
/// </summary>
public sealed class Vgg16Features : nn.Module
{
    private static readonly int[] Taps = [3, 8, 15, 22];
    private readonly Sequential features;

    public Vgg16Features() : base(nameof(Vgg16Features))
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        long channels = 3;
        foreach (var v in new[] { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512 })
        {
            if (v == 0)
            {
                layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), nn.MaxPool2d(2, 2)));
                continue;
            }
            layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Layers.Conv2d(channels, v, 3, padding: 1)));
            layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), nn.ReLU()));
            channels = v;
        }
        features = nn.Sequential(layers);
        register_module(nameof(features), features);
    }

    /// <summary>Loads the <c>features.*</c> tensors of a torchvision VGG-16 <c>torch.save</c>d state dict at <paramref name="path"/>.</summary>
    public static Vgg16Features FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"VGG-16 weights file {path} does not exist", path);
        Hashtable state;
        using (var stream = File.OpenRead(path))
            state = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false, skipTensorRead: false);
        var vgg = new Vgg16Features();
        var wanted = vgg.state_dict().Keys.ToHashSet();
        var weights = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry e in state)
            if (e.Key is string key && wanted.Contains(key))
                weights[key] = e.Value as Tensor ?? throw new InvalidDataException($"VGG-16 weights {path}: '{key}' is not a tensor");
        var missing = wanted.Except(weights.Keys).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"VGG-16 weights {path} lack {string.Join(", ", missing.Take(4))}{(missing.Count > 4 ? ", …" : "")} (expected torchvision's vgg16 state dict)");
        vgg.load_state_dict(weights);
        foreach (var w in weights.Values) w.Dispose();
        foreach (var p in vgg.parameters()) p.requires_grad = false;
        vgg.eval();
        return vgg;
    }

    public List<Tensor> forward(Tensor image)
    {
        using var scope = NewDisposeScope();
        var mean = tensor(new[] { 0.485f, 0.456f, 0.406f }, device: image.device).reshape(1, 3, 1, 1);
        var std = tensor(new[] { 0.229f, 0.224f, 0.225f }, device: image.device).reshape(1, 3, 1, 1);
        var h = (image - mean) / std;
        var taps = new List<Tensor>();
        var i = 0;
        foreach (var layer in features.children().Cast<nn.Module<Tensor, Tensor>>())
        {
            h = layer.call(h);
            if (Taps.Contains(i)) taps.Add(h.MoveToOuterDisposeScope());
            i++;
        }
        return taps;
    }
}

/// <summary>
/// The renderer objective: <c>L = mean|Î − I| + λ_p · Σ_l mean|φ_l(Î) − φ_l(I)|</c> with φ_l the VGG-16 taps.
/// Without a VGG weights file the perceptual term is off (said once in the log), never downloaded.
/// </summary>
public sealed class RendererLoss : IDisposable
{
    private readonly Vgg16Features? _vgg;
    private readonly double _weight;

    /// <param name="vggPath">torchvision VGG-16 state dict (<c>torch.save(torchvision.models.vgg16(weights=...).state_dict(), path)</c>), or null.</param>
    public RendererLoss(string? vggPath, double perceptualWeight, Action<string>? log = null)
    {
        _weight = perceptualWeight;
        if (string.IsNullOrEmpty(vggPath))
        {
            (log ?? Console.Error.WriteLine)("renderer loss: no VGG-16 weights file given, perceptual term off (L1 only)");
            return;
        }
        _vgg = Vgg16Features.FromFile(vggPath);
    }

    public bool Perceptual => _vgg is not null;

    /// <summary>Images <c>[B, 3, H, W]</c> in [0, 1] → scalar loss.</summary>
    public Tensor Compute(Tensor rendered, Tensor target)
    {
        using var scope = NewDisposeScope();
        rendered = Autocast.ToFloat32(rendered);
        var loss = (rendered - target).abs().mean();
        if (_vgg is not null && _weight > 0)
        {
            var a = _vgg.forward(rendered);
            var b = _vgg.forward(target);
            for (var i = 0; i < a.Count; i++)
                loss = loss + (Autocast.ToFloat32(a[i]) - Autocast.ToFloat32(b[i]).detach()).abs().mean() * _weight;
        }
        return loss.MoveToOuterDisposeScope();
    }

    public void Dispose() => _vgg?.Dispose();
}
