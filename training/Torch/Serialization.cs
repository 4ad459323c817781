using System.Collections;
using System.Runtime.InteropServices;

namespace GidCluster.Torch;

internal static unsafe partial class NativeMethods
{
    [DllImport(Lib)] internal static extern void gid_iv_free(IntPtr v);
    [DllImport(Lib)] internal static extern int gid_iv_none(out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_iv_tensor(TensorHandle t, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_iv_int(long v, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_iv_double(double v, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_iv_bool(int v, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_iv_string([MarshalAs(UnmanagedType.LPUTF8Str)] string s, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_iv_list(IntPtr* items, int n, int tuple, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_iv_dict(IntPtr* keys, IntPtr* values, int n, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_pickle_save(IntPtr v, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);
}

#pragma warning disable IDE1006, CS8981 // torch's spellings
public static unsafe partial class torch
{
    /// <summary>A Python tuple inside a checkpoint tree (e.g. AdamW's <c>betas</c>).</summary>
    public sealed record PyTuple(params object?[] Items);

    /// <summary>
    /// Writes <paramref name="value"/> in torch.save's zip format, readable by Python's torch.load.
    /// A value is a Tensor, long/int, double/float, bool, string, null, PyTuple, a list, or a dictionary
    /// with string or integer keys (nested freely), e.g. a state dict.
    /// </summary>
    public static void save(object? value, string path)
    {
        var owned = new List<IntPtr>();
        try
        {
            var root = ToNative(value, owned, "value");
            NativeMethods.Check(NativeMethods.gid_pickle_save(root, path));
        }
        finally
        {
            foreach (var h in owned) NativeMethods.gid_iv_free(h);
        }
    }

    /// <summary>Reads a torch.save file (Python's or ours) into the object tree described at <see cref="save"/>; dict keys become string or long.</summary>
    public static object? load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        return Unpickler.Load(path);
    }

    /// <summary>Loads a file holding a flat <c>{name: tensor}</c> dictionary (a Python state dict).</summary>
    public static Dictionary<string, Tensor> load_state_dict(string path) =>
        AsStateDict(load(path), path);

    /// <summary>Checks that a loaded value is a <c>{name: tensor}</c> dictionary and returns it typed.</summary>
    public static Dictionary<string, Tensor> AsStateDict(object? value, string what)
    {
        if (value is not Dictionary<string, object?> dict)
            throw new InvalidDataException($"{what}: expected a dictionary of tensors, found {Describe(value)}");
        var result = new Dictionary<string, Tensor>();
        foreach (var (k, v) in dict)
            result[k] = v as Tensor ?? throw new InvalidDataException($"{what}: entry '{k}' is {Describe(v)}, not a tensor");
        return result;
    }

    internal static string Describe(object? v) => v switch
    {
        null => "None",
        Tensor => "a tensor",
        _ => v.GetType().Name,
    };

    private static IntPtr ToNative(object? value, List<IntPtr> owned, string where)
    {
        int status;
        IntPtr r;
        switch (value)
        {
            case null: status = NativeMethods.gid_iv_none(out r); break;
            case Tensor t: status = NativeMethods.gid_iv_tensor(t.Handle, out r); break;
            case long l: status = NativeMethods.gid_iv_int(l, out r); break;
            case int i: status = NativeMethods.gid_iv_int(i, out r); break;
            case double d: status = NativeMethods.gid_iv_double(d, out r); break;
            case float f: status = NativeMethods.gid_iv_double(f, out r); break;
            case bool b: status = NativeMethods.gid_iv_bool(b ? 1 : 0, out r); break;
            case string s: status = NativeMethods.gid_iv_string(s, out r); break;
            case PyTuple tuple: status = Sequence(tuple.Items, tuple: true, owned, where, out r); break;
            case IDictionary dict:
                {
                    var keys = new IntPtr[dict.Count];
                    var values = new IntPtr[dict.Count];
                    var i = 0;
                    foreach (DictionaryEntry e in dict)
                    {
                        if (e.Key is not (string or long or int))
                            throw new ArgumentException($"{where}: dictionary keys must be strings or integers, found {e.Key.GetType().Name}");
                        keys[i] = ToNative(e.Key, owned, where);
                        values[i] = ToNative(e.Value, owned, $"{where}[{e.Key}]");
                        i++;
                    }
                    fixed (IntPtr* k = keys)
                    fixed (IntPtr* v = values)
                        status = NativeMethods.gid_iv_dict(k, v, keys.Length, out r);
                    break;
                }
            case IEnumerable items: status = Sequence(items.Cast<object?>().ToArray(), tuple: false, owned, where, out r); break;
            default: throw new ArgumentException($"{where}: {value.GetType().Name} cannot be saved (tensor, number, bool, string, null, tuple, list or dictionary)");
        }
        NativeMethods.Check(status);
        owned.Add(r);
        return r;
    }

    private static int Sequence(object?[] items, bool tuple, List<IntPtr> owned, string where, out IntPtr r)
    {
        var handles = new IntPtr[items.Length];
        for (var i = 0; i < items.Length; i++) handles[i] = ToNative(items[i], owned, $"{where}[{i}]");
        fixed (IntPtr* h = handles)
            return NativeMethods.gid_iv_list(h, items.Length, tuple ? 1 : 0, out r);
    }
}
#pragma warning restore IDE1006, CS8981
