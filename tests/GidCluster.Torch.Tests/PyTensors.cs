using System.Text.Json;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Tensors exchanged with the Python reference without going through our own checkpoint code:
/// Python writes raw little-endian data plus a JSON index (name → dtype, shape, offset).
/// </summary>
public static class PyTensors
{
    /// <summary>Python helper (prepended to scripts): <c>dump(dict_of_tensors, path)</c>.</summary>
    public const string DumpFunction = """
        import json, torch
        def dump(tensors, path):
            index, blobs, offset = {}, [], 0
            for name, t in tensors.items():
                t = t.detach().contiguous()
                kind = {torch.float32: 'f32', torch.int64: 'i64', torch.bool: 'b8'}[t.dtype]
                b = t.numpy().tobytes()
                index[name] = {'dtype': kind, 'shape': list(t.shape), 'offset': offset, 'bytes': len(b)}
                blobs.append(b); offset += len(b)
            with open(path + '.bin', 'wb') as f:
                f.write(b''.join(blobs))
            with open(path + '.json', 'w') as f:
                json.dump(index, f)
        def load(path):
            index = json.load(open(path + '.json')); raw = open(path + '.bin', 'rb').read()
            return {k: torch.frombuffer(bytearray(raw[v['offset']:v['offset'] + v['bytes']]), dtype=torch.float32).reshape(v['shape'])
                    for k, v in index.items()}
        """;

    /// <summary>
    /// Writes <paramref name="cases"/> as JSON into <paramref name="dir"/>, runs <paramref name="script"/>
    /// (after <see cref="DumpFunction"/>) once over all of them with the cases file and an output path
    /// as arguments, and loads the tensors it dumped; <paramref name="stdout"/> is what it printed.
    /// </summary>
    public static Dictionary<string, torch.Tensor> RunCases(string dir, object cases, string script, out string stdout)
    {
        var spec = Path.Combine(dir, "cases.json");
        File.WriteAllText(spec, JsonSerializer.Serialize(cases));
        var output = Path.Combine(dir, "golden");
        stdout = Programs.RunPython(DumpFunction + script, [spec, output], TimeSpan.FromMinutes(2));
        return Load(output);
    }

    /// <summary>Writes float32 tensors in the same layout, for Python's <c>load(path)</c>.</summary>
    public static void Dump(Dictionary<string, torch.Tensor> tensors, string path)
    {
        var index = new Dictionary<string, object>();
        using var data = new MemoryStream();
        foreach (var (name, t) in tensors)
        {
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.ToArray<float>().AsSpan());
            index[name] = new { dtype = "f32", shape = t.shape, offset = data.Length, bytes = bytes.Length };
            data.Write(bytes);
        }
        File.WriteAllBytes(path + ".bin", data.ToArray());
        File.WriteAllText(path + ".json", JsonSerializer.Serialize(index));
    }

    public static Dictionary<string, torch.Tensor> Load(string path)
    {
        var data = File.ReadAllBytes(path + ".bin");
        using var index = JsonDocument.Parse(File.ReadAllText(path + ".json"));
        var result = new Dictionary<string, torch.Tensor>();
        foreach (var entry in index.RootElement.EnumerateObject())
        {
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offset = entry.Value.GetProperty("offset").GetInt32();
            var bytes = entry.Value.GetProperty("bytes").GetInt32();
            var span = data.AsSpan(offset, bytes);
            result[entry.Name] = entry.Value.GetProperty("dtype").GetString() switch
            {
                "f32" => torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span).ToArray(), shape),
                "i64" => torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(span).ToArray(), shape),
                "b8" => torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, bool>(span).ToArray(), shape),
                var other => throw new InvalidDataException($"unknown dtype {other}"),
            };
        }
        return result;
    }

    /// <summary>Largest |a − b| over the tensors, relative to the largest |b| (plus a tiny floor for all-zero references).</summary>
    /// <summary>The values of a CPU tensor in row-major order.</summary>
    public static T[] ToArray<T>(this torch.Tensor t) where T : unmanaged => t.contiguous().data<T>().ToArray();

    public static double RelativeError(torch.Tensor actual, torch.Tensor expected)
    {
        var a = actual.to(ScalarType.Float64).ToArray<double>();
        var b = expected.to(ScalarType.Float64).ToArray<double>();
        if (!actual.shape.SequenceEqual(expected.shape))
            throw new InvalidOperationException($"shape [{string.Join(",", actual.shape)}] != [{string.Join(",", expected.shape)}]");
        double diff = 0, scale = 0;
        for (var i = 0; i < a.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs(b[i]));
        }
        return diff / Math.Max(scale, 1e-30);
    }

    /// <summary>Asserts agreement within <paramref name="tolerance"/> relative (exact zeros compare exactly).</summary>
    public static void AssertClose(torch.Tensor actual, torch.Tensor expected, double tolerance, string what)
    {
        var e = RelativeError(actual, expected);
        if (!(e <= tolerance))
            throw new Xunit.Sdk.XunitException($"{what}: relative error {e:E3} exceeds {tolerance:E1}");
    }
}
