using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace GidCluster.Torch;

/// <summary>
/// Reads torch.save zip files: <c>NAME/data.pkl</c> (a pickle, protocol 2–4) whose tensors refer by
/// persistent id to raw storages <c>NAME/data/KEY</c>. Only the opcodes and globals torch.save
/// produces for state dicts and optimizer states are understood; anything else is an error that
/// names it (nothing from the file is ever executed).
/// </summary>
internal sealed class Unpickler
{
    private sealed record Global(string Module, string Name);

    private sealed record Storage(torch.Tensor Flat);

    private sealed class Mark;

    private static readonly Mark MarkObject = new();

    private readonly byte[] _data;
    private readonly ZipArchive _zip;
    private readonly string _prefix;
    private readonly string _path;
    private readonly Dictionary<string, torch.Tensor> _storages = [];
    private readonly Dictionary<long, object?> _memo = [];
    private readonly List<object?> _stack = [];
    private int _pos;

    private Unpickler(byte[] data, ZipArchive zip, string prefix, string path) => (_data, _zip, _prefix, _path) = (data, zip, prefix, path);

    public static object? Load(string path)
    {
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path} is not a torch.save file (not a zip archive): {e.Message}", e);
        }
        using (zip)
        {
            var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
                ?? throw new InvalidDataException($"{path} has no data.pkl: not a torch.save file");
            var prefix = pkl.FullName[..^"data.pkl".Length];
            var bytes = ReadAll(pkl);
            var u = new Unpickler(bytes, zip, prefix, path);
            // Storages are only views' backing: they are released once the tensors hold them.
            using var scope = torch.NewDisposeScope();
            var result = Typed(u.Run(), []);
            foreach (var t in Tensors(result)) scope.MoveToOuter(t);
            return result;
        }
    }

    private static byte[] ReadAll(ZipArchiveEntry entry)
    {
        using var s = entry.Open();
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    private static IEnumerable<torch.Tensor> Tensors(object? v) => v switch
    {
        torch.Tensor t => [t],
        Dictionary<string, object?> d => d.Values.SelectMany(Tensors),
        Dictionary<long, object?> d => d.Values.SelectMany(Tensors),
        List<object?> l => l.SelectMany(Tensors),
        torch.PyTuple t => t.Items.SelectMany(Tensors),
        _ => [],
    };

    private InvalidDataException Error(string what) => new($"{_path}: {what} (pickle offset {_pos})");

    private byte Byte() => _pos < _data.Length ? _data[_pos++] : throw Error("truncated pickle");

    private ReadOnlySpan<byte> Bytes(int n)
    {
        if (n < 0 || _pos + n > _data.Length) throw Error("truncated pickle");
        var s = _data.AsSpan(_pos, n);
        _pos += n;
        return s;
    }

    private string Line()
    {
        var end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw Error("truncated pickle");
        var s = Encoding.UTF8.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private object? Pop()
    {
        if (_stack.Count == 0) throw Error("stack underflow");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private List<object?> PopToMark()
    {
        var i = _stack.FindLastIndex(o => ReferenceEquals(o, MarkObject));
        if (i < 0) throw Error("MARK not found");
        var items = _stack.GetRange(i + 1, _stack.Count - i - 1);
        _stack.RemoveRange(i, _stack.Count - i);
        return items;
    }

    private object? Run()
    {
        while (true)
        {
            var op = Byte();
            switch (op)
            {
                case 0x80: Byte(); break; // PROTO
                case 0x95: Bytes(8); break; // FRAME
                case (byte)'.': return Pop(); // STOP
                case (byte)'(': _stack.Add(MarkObject); break;
                case (byte)')': _stack.Add(new torch.PyTuple()); break;
                case (byte)'t': _stack.Add(new torch.PyTuple([.. PopToMark()])); break;
                case 0x85: _stack.Add(new torch.PyTuple(Pop())); break;
                case 0x86: { var b = Pop(); var a = Pop(); _stack.Add(new torch.PyTuple(a, b)); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); _stack.Add(new torch.PyTuple(a, b, c)); break; }
                case (byte)']': _stack.Add(new List<object?>()); break;
                case (byte)'a': { var v = Pop(); ListTop().Add(v); break; }
                case (byte)'e': { var items = PopToMark(); ListTop().AddRange(items); break; }
                case (byte)'}': _stack.Add(new Dictionary<object, object?>()); break;
                case (byte)'s': { var v = Pop(); var k = Pop(); DictTop()[Key(k)] = v; break; }
                case (byte)'u':
                    {
                        var items = PopToMark();
                        var d = DictTop();
                        for (var i = 0; i + 1 < items.Count; i += 2) d[Key(items[i])] = items[i + 1];
                        break;
                    }
                case (byte)'N': _stack.Add(null); break;
                case 0x88: _stack.Add(true); break;
                case 0x89: _stack.Add(false); break;
                case (byte)'K': _stack.Add((long)Byte()); break;
                case (byte)'M': _stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2))); break;
                case (byte)'J': _stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))); break;
                case 0x8a:
                    {
                        var n = Byte();
                        var b = Bytes(n);
                        if (n > 8) throw Error("integer wider than 64 bits");
                        long v = 0;
                        for (var i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
                        if (n is > 0 and < 8 && (b[n - 1] & 0x80) != 0) v -= 1L << (8 * n); // sign-extend
                        _stack.Add(v);
                        break;
                    }
                case (byte)'G': _stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break;
                case (byte)'X': { var n = BinaryPrimitives.ReadInt32LittleEndian(Bytes(4)); _stack.Add(Encoding.UTF8.GetString(Bytes(n))); break; }
                case 0x8c: { var n = Byte(); _stack.Add(Encoding.UTF8.GetString(Bytes(n))); break; }
                case (byte)'T': { var n = BinaryPrimitives.ReadInt32LittleEndian(Bytes(4)); _stack.Add(Encoding.Latin1.GetString(Bytes(n))); break; }
                case (byte)'U': { var n = Byte(); _stack.Add(Encoding.Latin1.GetString(Bytes(n))); break; }
                case (byte)'B': { var n = BinaryPrimitives.ReadInt32LittleEndian(Bytes(4)); _stack.Add(Bytes(n).ToArray()); break; }
                case (byte)'C': { var n = Byte(); _stack.Add(Bytes(n).ToArray()); break; }
                case (byte)'c': { var module = Line(); var name = Line(); _stack.Add(new Global(module, name)); break; }
                case 0x93: { var name = Pop() as string; var module = Pop() as string; _stack.Add(new Global(module ?? "", name ?? "")); break; }
                case (byte)'R': { var args = Pop(); var f = Pop(); _stack.Add(Call(f, args as torch.PyTuple ?? throw Error("REDUCE without argument tuple"))); break; }
                case 0x81: { var args = Pop(); var cls = Pop(); _stack.Add(Call(cls, args as torch.PyTuple ?? throw Error("NEWOBJ without argument tuple"))); break; }
                case (byte)'b':
                    {
                        var state = Pop();
                        // OrderedDict state dicts carry `_metadata` (module versions): not needed to restore tensors.
                        if (_stack.Count == 0 || _stack[^1] is not Dictionary<object, object?>)
                            throw Error($"BUILD on {_stack.LastOrDefault()?.GetType().Name ?? "nothing"} is not supported");
                        _ = state;
                        break;
                    }
                case (byte)'Q': _stack.Add(PersistentLoad(Pop())); break;
                case (byte)'q': _memo[Byte()] = _stack[^1]; break;
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4))] = _stack[^1]; break;
                case 0x94: _memo[_memo.Count] = _stack[^1]; break;
                case (byte)'h': _stack.Add(Memo(Byte())); break;
                case (byte)'j': _stack.Add(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)))); break;
                default: throw Error($"unsupported pickle opcode 0x{op:x2}");
            }
        }
    }

    private object? Memo(long i) => _memo.TryGetValue(i, out var v) ? v : throw Error($"memo {i} missing");

    private List<object?> ListTop() => _stack.Count > 0 && _stack[^1] is List<object?> l ? l : throw Error("APPEND target is not a list");

    private Dictionary<object, object?> DictTop() => _stack.Count > 0 && _stack[^1] is Dictionary<object, object?> d ? d : throw Error("SETITEM target is not a dict");

    private object Key(object? k) => k switch
    {
        string or long or bool or double => k,
        torch.PyTuple t => t,
        _ => throw Error($"dict key of type {k?.GetType().Name ?? "None"} is not supported"),
    };

    private object? Call(object? f, torch.PyTuple args)
    {
        var a = args.Items;
        switch (f)
        {
            case Global { Module: "collections", Name: "OrderedDict" }:
                return new Dictionary<object, object?>();
            case Global { Module: "torch._utils", Name: "_rebuild_tensor_v2" } when a.Length >= 4:
                {
                    var storage = a[0] as Storage ?? throw Error("tensor without storage");
                    var offset = (long)a[1]!;
                    var size = ((torch.PyTuple)a[2]!).Items.Select(x => (long)x!).ToArray();
                    var stride = ((torch.PyTuple)a[3]!).Items.Select(x => (long)x!).ToArray();
                    var requiresGrad = a.Length > 4 && a[4] is true;
                    var t = AsStrided(storage.Flat, size, stride, offset);
                    if (requiresGrad) t.requires_grad = true;
                    return t;
                }
            // Written by torch::jit::pickle_save (our own files): type tags and typed lists wrap the value.
            case Global { Module: "torch.jit._pickle", Name: "restore_type_tag" or "build_intlist" or "build_doublelist" or "build_boollist" or "build_tensorlist" } when a.Length >= 1:
                return a[0];
            case Global { Module: "torch._utils", Name: "_rebuild_parameter" } when a.Length >= 2:
                {
                    var t = a[0] as torch.Tensor ?? throw Error("parameter without tensor");
                    if (a[1] is true) t.requires_grad = true;
                    return t;
                }
            case Global g:
                throw Error($"unsupported global {g.Module}.{g.Name}");
            default:
                throw Error("REDUCE of a non-global");
        }
    }

    private static unsafe torch.Tensor AsStrided(torch.Tensor flat, long[] size, long[] stride, long offset)
    {
        fixed (long* s = size)
        fixed (long* st = stride)
            return torch.Tensor.Wrap(NativeMethods.gid_t_as_strided(flat.Handle, s, st, size.Length, offset, out var r), r);
    }

    // ('storage', torch.FloatStorage, key, location, numel)
    private Storage PersistentLoad(object? pid)
    {
        if (pid is not torch.PyTuple { Items: ["storage", Global type, string key, string location, long numel] })
            throw Error("unsupported persistent id (expected a storage)");
        if (!location.StartsWith("cpu", StringComparison.Ordinal) && !location.StartsWith("cuda", StringComparison.Ordinal))
            throw Error($"storage location '{location}' is not supported");
        if (_storages.TryGetValue(key, out var cached)) return new Storage(cached);
        var dtype = type.Name switch
        {
            "FloatStorage" => ScalarType.Float32,
            "DoubleStorage" => ScalarType.Float64,
            "HalfStorage" => ScalarType.Float16,
            "BFloat16Storage" => ScalarType.BFloat16,
            "LongStorage" => ScalarType.Int64,
            "IntStorage" => ScalarType.Int32,
            "ShortStorage" => ScalarType.Int16,
            "CharStorage" => ScalarType.Int8,
            "ByteStorage" => ScalarType.Byte,
            "BoolStorage" => ScalarType.Bool,
            "ComplexFloatStorage" => ScalarType.ComplexFloat32,
            "ComplexDoubleStorage" => ScalarType.ComplexFloat64,
            _ => throw Error($"unsupported storage type {type.Name}"),
        };
        var entry = _zip.GetEntry($"{_prefix}data/{key}") ?? throw Error($"storage {key} missing from the archive");
        var bytes = ReadAll(entry);
        if (bytes.Length != numel * torch.ElementSize(dtype))
            throw Error($"storage {key} has {bytes.Length} bytes, expected {numel} × {torch.ElementSize(dtype)}");
        var flat = FromBytes(bytes, dtype, numel);
        _storages[key] = flat;
        return new Storage(flat);
    }

    private static unsafe torch.Tensor FromBytes(byte[] bytes, ScalarType dtype, long numel)
    {
        var shape = new[] { numel };
        fixed (byte* d = bytes)
        fixed (long* s = shape)
            return torch.Tensor.Wrap(NativeMethods.gid_t_from_data(d, bytes.Length, s, 1, (int)dtype, out var r), r);
    }

    /// <summary>Turns the generic pickle containers into the public tree: dicts keyed by string or long.</summary>
    private static object? Typed(object? v, Dictionary<object, object?> done)
    {
        switch (v)
        {
            case Dictionary<object, object?> d:
                {
                    if (done.TryGetValue(d, out var r)) return r;
                    if (d.Count > 0 && d.Keys.All(k => k is long))
                    {
                        var byInt = new Dictionary<long, object?>();
                        done[d] = byInt;
                        foreach (var (k, x) in d) byInt[(long)k] = Typed(x, done);
                        return byInt;
                    }
                    var byName = new Dictionary<string, object?>();
                    done[d] = byName;
                    foreach (var (k, x) in d)
                        byName[k as string ?? throw new InvalidDataException($"dict mixes key types ({k.GetType().Name})")] = Typed(x, done);
                    return byName;
                }
            case List<object?> l:
                {
                    if (done.TryGetValue(l, out var r)) return r;
                    var list = new List<object?>(l.Count);
                    done[l] = list;
                    list.AddRange(l.Select(x => Typed(x, done)));
                    return list;
                }
            case torch.PyTuple t:
                return new torch.PyTuple([.. t.Items.Select(x => Typed(x, done))]);
            case Storage:
                throw new InvalidDataException("a bare storage is not supported");
            default:
                return v;
        }
    }
}
