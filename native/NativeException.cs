namespace GidCluster.Native;

/// <summary>Status codes shared by every shim (see <c>native/common/gid_native.h</c>).</summary>
public enum NativeStatus
{
    Ok = 0,
    EngineError = 1,
    ArgumentError = 2,
    UnknownError = 3,
}

/// <summary>A native engine (libtorch, OpenCV) reported an error; the message is the engine's own.</summary>
public class NativeException(string engine, NativeStatus status, string message)
    : Exception($"{engine}: {message}")
{
    public string Engine { get; } = engine;
    public NativeStatus Status { get; } = status;
    public string EngineMessage { get; } = message;
}

/// <summary>Reads a shim's thread-local error text through its <c>*_last_error(buffer, capacity)</c> export.</summary>
public static unsafe class NativeText
{
    /// <summary>Calls a <c>(char* buffer, int capacity) → full length</c> export (passed as <c>&amp;Extern</c>) and returns the string.</summary>
    public static string Read(delegate*<byte*, int, int> export)
    {
        Span<byte> small = stackalloc byte[512];
        fixed (byte* p = small)
        {
            var length = export(p, small.Length);
            if (length < small.Length)
                return System.Text.Encoding.UTF8.GetString(small[..length]);
        }
        var large = new byte[checked(export(null, 0) + 1)];
        fixed (byte* p = large)
        {
            var length = export(p, large.Length);
            return System.Text.Encoding.UTF8.GetString(large, 0, Math.Min(length, large.Length - 1));
        }
    }
}
