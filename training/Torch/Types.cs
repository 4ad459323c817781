namespace GidCluster.Torch;

/// <summary>Element types; the values are c10::ScalarType's (and TorchSharp's).</summary>
public enum ScalarType
{
    Byte = 0,
    Int8 = 1,
    Int16 = 2,
    Int32 = 3,
    Int64 = 4,
    Float16 = 5,
    Float32 = 6,
    Float64 = 7,
    ComplexFloat32 = 9,
    ComplexFloat64 = 10,
    Bool = 11,
    BFloat16 = 15,
}

/// <summary>Device kinds; the values are c10::DeviceType's.</summary>
public enum DeviceType
{
    CPU = 0,
    CUDA = 1,
}

#pragma warning disable IDE1006, CS8981
public static partial class torch
{
    public const ScalarType float32 = ScalarType.Float32;
    public const ScalarType float16 = ScalarType.Float16;
    public const ScalarType bfloat16 = ScalarType.BFloat16;
    public const ScalarType float64 = ScalarType.Float64;
    public const ScalarType int64 = ScalarType.Int64;
    public const ScalarType int32 = ScalarType.Int32;
    public const ScalarType uint8 = ScalarType.Byte;
    public const ScalarType @bool = ScalarType.Bool;
    public const ScalarType complex64 = ScalarType.ComplexFloat32;

    /// <summary>A device such as <c>cpu</c> or <c>cuda:1</c> (index -1: the current one).</summary>
    public sealed record Device(DeviceType type, int index = -1)
    {
        public override string ToString() => type == DeviceType.CPU ? "cpu" : index < 0 ? "cuda" : $"cuda:{index}";

        /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
        public static Device Parse(string text)
        {
            var parts = text.Split(':');
            var type = parts[0] switch
            {
                "cpu" => DeviceType.CPU,
                "cuda" => DeviceType.CUDA,
                _ => throw new ArgumentException($"unknown device '{text}': expected cpu, cuda or cuda:N", nameof(text)),
            };
            if (parts.Length == 1)
                return new Device(type);
            if (parts.Length != 2 || !int.TryParse(parts[1], out var index) || index < 0)
                throw new ArgumentException($"bad device index in '{text}'", nameof(text));
            return new Device(type, index);
        }
    }

    public static readonly Device CPU = new(DeviceType.CPU);

    public static Device device(string text) => Device.Parse(text);

    public static Device CUDA(int index = 0) => new(DeviceType.CUDA, index);

    internal static int ElementSize(ScalarType t) => t switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => throw new ArgumentException($"unsupported dtype {t}"),
    };

    /// <summary>The dtype a .NET element type maps to (float → float32, Half → float16, bool → bool, ...).</summary>
    internal static ScalarType ScalarTypeOf<T>() where T : unmanaged => default(T) switch
    {
        float => ScalarType.Float32,
        double => ScalarType.Float64,
        long => ScalarType.Int64,
        int => ScalarType.Int32,
        short => ScalarType.Int16,
        byte => ScalarType.Byte,
        sbyte => ScalarType.Int8,
        bool => ScalarType.Bool,
        Half => ScalarType.Float16,
        System.Numerics.Complex => ScalarType.ComplexFloat64,
        _ => throw new ArgumentException($"{typeof(T).Name} has no torch dtype"),
    };

    /// <summary>A seeded random stream (torch.Generator); CPU only.</summary>
    public sealed class Generator : IDisposable
    {
        internal readonly GeneratorHandle Handle;

        public Generator(ulong seed)
        {
            NativeMethods.Check(NativeMethods.gid_generator_new(seed, out var g));
            Handle = new GeneratorHandle(g);
        }

        public void Dispose() => Handle.Dispose();
    }

    /// <summary>Seeds the default generator (dropout, and random calls without a generator).</summary>
    public static void manual_seed(ulong seed) => NativeMethods.Check(NativeMethods.gid_manual_seed(seed));
}
#pragma warning restore IDE1006, CS8981
