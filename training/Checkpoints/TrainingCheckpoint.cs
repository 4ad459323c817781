using System.Collections;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GidCluster.Training.Checkpoints;

/// <summary>Where training resumes: the optimizer step count and the loader's position.</summary>
public sealed record TrainingPosition(long Step, long Epoch, long BatchInEpoch);

/// <summary>
/// A training checkpoint as one <c>torch.save</c> file (through TorchSharp.PyBridge's pickler):
/// <c>{'model': state_dict, 'optimizer': optimizer.state_dict(), 'step', 'epoch', 'batch_in_epoch',
/// 'rng_state': torch.get_rng_state()}</c>. Python resumes with <c>torch.load</c> +
/// <c>load_state_dict</c> + <c>torch.set_rng_state</c>; we read what Python writes in that layout.
/// </summary>
public static class TrainingCheckpoint
{
    public static void Save(string path, nn.Module model, optim.Optimizer optimizer, TrainingPosition position)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (optimizer is not OptimizerHelper helper)
            throw new ArgumentException($"optimizer {optimizer.GetType().Name} has no PyTorch state-dict form", nameof(optimizer));
        using var scope = NewDisposeScope();
        var modelState = new Hashtable();
        foreach (var (name, tensor) in model.state_dict())
            modelState[name] = tensor;
        var content = new Hashtable
        {
            ["model"] = modelState,
            ["optimizer"] = OptimizerState(helper),
            ["step"] = position.Step,
            ["epoch"] = position.Epoch,
            ["batch_in_epoch"] = position.BatchInEpoch,
            ["rng_state"] = get_rng_state(),
        };
        var temp = path + ".tmp";
        using (var stream = File.Create(temp))
            PyTorchPickler.PickleStateDict(stream, content);
        File.Move(temp, path, overwrite: true); // a crash mid-write never leaves a torn checkpoint under the real name
    }

    /// <summary>Loads weights, optimizer state and RNG into the given objects and returns the position.</summary>
    public static TrainingPosition Load(string path, nn.Module model, optim.Optimizer optimizer)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"checkpoint {path} does not exist", path);
        if (optimizer is not OptimizerHelper helper)
            throw new ArgumentException($"optimizer {optimizer.GetType().Name} has no PyTorch state-dict form", nameof(optimizer));
        var content = Read(path);
        // No dispose scope here: the optimizer state load_py creates must outlive this call.
        LoadState(model, content, "model", path);
        // Loading copies values into the existing parameters; make sure none came back frozen
        // (PyBridge's own load_py copies Python's requires_grad=False onto parameters).
        foreach (var p in model.parameters())
            p.requires_grad = true;

        using (var buffer = new MemoryStream())
        {
            PyTorchPickler.PickleStateDict(buffer, Entry<Hashtable>(content, "optimizer", path), leaveOpen: true);
            buffer.Position = 0;
            helper.load_py(buffer);
        }
        using (var rng = Entry<Tensor>(content, "rng_state", path))
            set_rng_state(rng);
        return new TrainingPosition(Number(content, "step", path), Number(content, "epoch", path), Number(content, "batch_in_epoch", path));
    }

    /// <summary>
    /// Weights only, for inference: the <c>'ema'</c> state dict when the file has one, else <c>'model'</c>; returns
    /// which entry was loaded. Parameters keep the <c>requires_grad</c> the model gave them.
    /// </summary>
    public static string LoadWeights(string path, nn.Module model)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"checkpoint {path} does not exist", path);
        var content = Read(path);
        var entry = content.ContainsKey("ema") ? "ema" : "model";
        LoadState(model, content, entry, path);
        return entry;
    }

    private static Hashtable Read(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false, skipTensorRead: false);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or NotImplementedException or InvalidOperationException or Razorvine.Pickle.PickleException
                                      or EndOfStreamException or ArgumentException or IndexOutOfRangeException)
        {
            throw new InvalidDataException($"checkpoint {path} is not a torch.save file this reader understands: {e.Message}", e);
        }
    }

    private static void LoadState(nn.Module model, Hashtable content, string entry, string path)
    {
        var weights = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry e in Entry<IDictionary>(content, entry, path))
            weights[(string)e.Key] = e.Value as Tensor ?? throw new InvalidDataException($"checkpoint {path}: {entry} entry '{e.Key}' is not a tensor");
        try
        {
            CheckKeys(model, weights, path);
            var grads = model.parameters().Select(p => p.requires_grad).ToList();
            model.load_state_dict(weights, strict: true);
            foreach (var (p, g) in model.parameters().Zip(grads)) p.requires_grad = g; // PyBridge may copy Python's flags over
        }
        finally
        {
            foreach (var w in weights.Values) w.Dispose(); // copied into the model
        }
    }

    /// <summary>The optimizer's state dict as PyTorch lays it out (PyBridge writes it; read back as a pickle tree).</summary>
    private static Hashtable OptimizerState(OptimizerHelper optimizer)
    {
        using var buffer = new MemoryStream();
        optimizer.save_py(buffer, leaveOpen: true);
        buffer.Position = 0;
        return PyTorchUnpickler.UnpickleStateDict(buffer, leaveOpen: true, skipTensorRead: false);
    }

    /// <summary>TorchSharp's strict load says only "not identical": name what differs.</summary>
    private static void CheckKeys(nn.Module model, Dictionary<string, Tensor> weights, string path)
    {
        var expected = model.state_dict();
        var missing = expected.Keys.Where(k => !weights.ContainsKey(k)).ToList();
        var unexpected = weights.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        var shapes = expected.Where(kv => weights.TryGetValue(kv.Key, out var w) && !w.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key}: checkpoint has [{string.Join(", ", weights[kv.Key].shape)}], the model has [{string.Join(", ", kv.Value.shape)}]")
            .ToList();
        if (missing.Count + unexpected.Count + shapes.Count == 0) return;
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add("missing key(s): " + string.Join(", ", missing));
        if (unexpected.Count > 0) parts.Add("unexpected key(s): " + string.Join(", ", unexpected));
        parts.AddRange(shapes);
        throw new InvalidDataException($"checkpoint {path} does not fit this model: {string.Join("; ", parts)}");
    }

    private static T Entry<T>(Hashtable content, string key, string path) =>
        content[key] is T value ? value : throw new InvalidDataException($"checkpoint {path} has no '{key}' entry of the expected kind");

    private static long Number(Hashtable content, string key, string path) => content[key] switch
    {
        int i => i,
        long l => l,
        _ => throw new InvalidDataException($"checkpoint {path} has no integer '{key}' entry"),
    };
}
