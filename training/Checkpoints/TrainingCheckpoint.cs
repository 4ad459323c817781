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
/// 'rng_state': torch.get_rng_state()}</c>, plus <c>'ema'</c> (the averaged weights, same keys as <c>'model'</c>)
/// when the trainer keeps an EMA. Python resumes with <c>torch.load</c> +
/// <c>load_state_dict</c> + <c>torch.set_rng_state</c>; we read what Python writes in that layout.
/// </summary>
public static class TrainingCheckpoint
{
    public static void Save(string path, nn.Module model, optim.Optimizer optimizer, TrainingPosition position, IReadOnlyDictionary<string, Tensor>? ema = null)
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
        if (ema is not null)
        {
            var emaState = new Hashtable();
            foreach (var (name, tensor) in ema)
                emaState[name] = tensor;
            content["ema"] = emaState;
        }
        var temp = path + ".tmp";
        using (var stream = File.Create(temp))
            PyTorchPickler.PickleStateDict(stream, content);
        File.Move(temp, path, overwrite: true); // a crash mid-write never leaves a torn checkpoint under the real name
    }

    /// <summary>Loads weights, optimizer state and RNG into the given objects and returns the position.</summary>
    public static TrainingPosition Load(string path, nn.Module model, optim.Optimizer optimizer) => Load(path, model, optimizer, ema: null);

    /// <summary>
    /// As <see cref="Load(string, nn.Module, optim.Optimizer)"/>, and copies the checkpoint's <c>'ema'</c> entries into
    /// <paramref name="ema"/> (name → tensor, same keys as the model's state dict); a checkpoint without an EMA fails.
    /// Parameters keep their <c>requires_grad</c> as the caller set it.
    /// </summary>
    public static TrainingPosition Load(string path, nn.Module model, optim.Optimizer optimizer, IReadOnlyDictionary<string, Tensor>? ema)
    {
        if (optimizer is not OptimizerHelper helper)
            throw new ArgumentException($"optimizer {optimizer.GetType().Name} has no PyTorch state-dict form", nameof(optimizer));
        var content = Read(path);
        // No dispose scope here: the optimizer state load_py creates must outlive this call.
        LoadInto(model, content, "model", path);
        if (ema is not null)
        {
            using var noGrad = no_grad();
            var saved = Weights(content, "ema", path);
            foreach (var (name, target) in ema)
            {
                if (!saved.TryGetValue(name, out var value))
                    throw new InvalidDataException($"checkpoint {path}: 'ema' has no entry '{name}'");
                target.copy_(value);
            }
            foreach (var w in saved.Values) w.Dispose();
        }

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
    /// Loads only the weights of a checkpoint into <paramref name="model"/> (a frozen network another stage builds on):
    /// its <c>'ema'</c> entry when <paramref name="preferEma"/> and present, else <c>'model'</c>. Returns which one it used.
    /// </summary>
    public static string LoadWeights(string path, nn.Module model, bool preferEma = true)
    {
        var content = Read(path);
        var key = preferEma && content.ContainsKey("ema") ? "ema" : "model";
        LoadInto(model, content, key, path);
        return key;
    }

    private static Hashtable Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"checkpoint {path} does not exist", path);
        try
        {
            using var stream = File.OpenRead(path);
            return PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false, skipTensorRead: false);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or NotImplementedException or InvalidOperationException or Razorvine.Pickle.PickleException
            or EndOfStreamException or ArgumentException or IndexOutOfRangeException) // a truncated file surfaces as any of these
        {
            throw new InvalidDataException($"checkpoint {path} is not a torch.save file this reader understands: {e.Message}", e);
        }
    }

    private static Dictionary<string, Tensor> Weights(Hashtable content, string key, string path)
    {
        var weights = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry e in Entry<IDictionary>(content, key, path))
            weights[(string)e.Key] = e.Value as Tensor ?? throw new InvalidDataException($"checkpoint {path}: {key} entry '{e.Key}' is not a tensor");
        return weights;
    }

    /// <summary>
    /// Copies the checkpoint's <paramref name="key"/> entry into <paramref name="model"/>. Loading may change
    /// requires_grad (PyBridge's load_py copies Python's False onto parameters): the caller's flags are restored, so
    /// trainable parameters train and a frozen stage 1 stays frozen.
    /// </summary>
    private static void LoadInto(nn.Module model, Hashtable content, string key, string path)
    {
        var trainable = model.parameters().Select(p => p.requires_grad).ToList();
        var weights = Weights(content, key, path);
        CheckKeys(model, weights, path);
        model.load_state_dict(weights, strict: true);
        foreach (var w in weights.Values) w.Dispose(); // copied into the model
        var parameters = model.parameters().ToList();
        for (var i = 0; i < parameters.Count; i++)
            parameters[i].requires_grad = trainable[i];
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
