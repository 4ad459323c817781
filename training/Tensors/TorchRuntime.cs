using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace GidCluster.Training.Tensors;

/// <summary>Process-wide settings of the tensor engine, and facts about it for <c>gid versions</c> and benchmark lines.</summary>
public static partial class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool _initialized;

    /// <summary>The libtorch TorchSharp runs on (its package version, e.g. 2.10.0).</summary>
    public static string LibTorchVersion => torch.__version__;

    /// <summary>TorchSharp's own version.</summary>
    public static string TorchSharpVersion =>
        typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    /// <summary>Whether libtorch may use oneDNN (mkldnn) kernels (true after <see cref="Initialize"/>); setting false forces libtorch's own kernels.</summary>
    public static bool OneDnnEnabled
    {
        get
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            return UserEnabledMkldnn(GlobalContext());
        }
        set
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            SetUserEnabledMkldnn(GlobalContext(), value);
        }
    }

    /// <summary>oneDNN's variable for the highest instruction set its kernels may use (it also reads the older DNNL_ name).</summary>
    public const string OneDnnIsaVariable = "ONEDNN_MAX_CPU_ISA";

    /// <summary>
    /// The oneDNN ISA cap in force for this process: the user's ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA), or null (no cap).
    /// None is set by default: oneDNN 3.7.1's AVX-512 convolution input gradients are wrong on this project's AMD EPYC
    /// machines when the output channels are not a multiple of 16, and <see cref="Layers.Conv2d"/> pads them instead
    /// (a cap at AVX was also right, at about twice the convolution time). Setting AVX here still caps it.
    /// </summary>
    public static string? OneDnnMaxIsa { get; private set; }

    /// <summary>
    /// Applies the settings every process that trains needs, once. Runs when this assembly loads.
    /// Records the user's oneDNN ISA cap (<see cref="OneDnnMaxIsa"/>); oneDNN itself reads it, once, before its first primitive.
    /// </summary>
    public static void Initialize()
    {
        lock (Gate)
        {
            if (_initialized) return;
            CpuAllocator.RetainFreedMemory();
            ScalarQuarantine.Install();
            OneDnnMaxIsa = new[] { OneDnnIsaVariable, "DNNL_MAX_CPU_ISA" }.Select(Environment.GetEnvironmentVariable).FirstOrDefault(v => !string.IsNullOrEmpty(v));
            try
            {
                // NNPACK cannot initialise on CPUs it does not know ("Unsupported hardware"): libtorch would try it,
                // with a warning, on every eligible convolution (those oneDNN does not take).
                SetUserEnabledNnpack(GlobalContext(), false);
            }
            catch (TypeInitializationException e) when (e.InnerException is NotSupportedException)
            {
                // TorchSharp's own message lists its search; say first what usually causes it here.
                throw new InvalidOperationException(
                    "TorchSharp could not load libtorch. On Debian 12 its libLibTorchSharp.so needs GLIBCXX_3.4.32: run ./gid once, " +
                    "which marks that requirement weak in the build output (training/setup/relax_version_needs.py). " + e.InnerException.Message, e);
            }
            _initialized = true;
        }
    }

    /// <summary>True when glibc's malloc was told to keep freed memory (see <see cref="CpuAllocator"/>).</summary>
    public static bool RetainsFreedMemory => CpuAllocator.Applied;

#pragma warning disable CA2255 // the fix must hold before any convolution, whichever entry point the process has
    [ModuleInitializer]
    internal static void OnLoad() => Initialize();
#pragma warning restore CA2255

    // libtorch has no C API for this switch and TorchSharp does not bind it: at::globalContext() and
    // at::Context::{set,}userEnabledMkldnn are exported C++ functions (the Context& is a pointer, `this` the first argument).
    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static partial void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport("torch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);
}
