using System.Runtime.InteropServices;
using GidCluster.Training.Tensors;

namespace GidCluster.Torch.Tests;

/// <summary>The tensor guarantees the models rely on, as TorchSharp provides them.</summary>
public class TensorTests
{
    [Fact]
    public void Creation_and_seeded_random_match_python()
    {
        using var scope = torch.NewDisposeScope();
        using var dir = Paths.NewTempDir("gid-torch-create");
        var path = Path.Combine(dir.Path, "t");
        Programs.RunPython(PyTensors.DumpFunction + """

            import sys
            g = torch.Generator().manual_seed(42)
            dump({'arange': torch.arange(2, 11, 3), 'linspace': torch.linspace(-1, 2, 7), 'full': torch.full((2, 2), 0.75),
                  'randn': torch.randn(3, 4, generator=g), 'rand': torch.rand(5, generator=g), 'randint': torch.randint(0, 9, (6,), generator=g)},
                 sys.argv[1])
            """, [path]);
        var py = PyTensors.Load(path);
        Assert.Equal(py["arange"].ToArray<long>(), torch.arange(2, 11, 3).ToArray<long>());
        Assert.Equal(py["linspace"].ToArray<float>(), torch.linspace(-1, 2, 7).ToArray<float>());
        Assert.Equal(py["full"].ToArray<float>(), torch.full([2, 2], 0.75f).ToArray<float>());
        using var g = new torch.Generator(42);
        Assert.Equal(py["randn"].ToArray<float>(), torch.randn([3, 4], generator: g).ToArray<float>());
        Assert.Equal(py["rand"].ToArray<float>(), torch.rand([5], generator: g).ToArray<float>());
        Assert.Equal(py["randint"].ToArray<long>(), torch.randint(0, 9, [6], generator: g).ToArray<long>());
    }

    [Fact]
    public void Shape_and_dtype_errors_become_managed_exceptions_with_libtorchs_message()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => Ops.MatMul(torch.ones([2, 3]), torch.ones([4, 5])));
        Assert.Contains("cannot be multiplied: [2, 3] @ [4, 5]", e.Message);
        Assert.Contains("do not broadcast", Assert.Throws<ArgumentException>(() => Ops.MatMul(torch.ones([2, 2, 3]), torch.ones([3, 3, 5]))).Message);
        Assert.Contains("dtypes", Assert.Throws<ArgumentException>(() => Ops.MatMul(torch.ones([2, 3]), torch.ones([3, 2], torch.int64))).Message);
        Assert.Equal([4L, 2, 5], Ops.MatMul(torch.ones([4, 2, 3]), torch.ones([3, 5])).shape);
        var e2 = Assert.ThrowsAny<ExternalException>(() => torch.ones([2, 3]) + torch.ones([4]));
        Assert.Contains("must match the size", e2.Message);
        Assert.ThrowsAny<ExternalException>(() => torch.ones([2]).index_select(0, torch.ones([1])));
        // the process keeps running and the next call works
        Assert.Equal(6f, torch.ones([2, 3]).sum().item<float>());
    }

    /// <summary>
    /// Why <see cref="Ops.MatMul"/> exists: TorchSharp 0.107.0's matmul lets libtorch's error escape and
    /// the process aborts. When this test fails, TorchSharp fixed it and the guard can go.
    /// </summary>
    [Fact]
    public void Torchsharps_own_matmul_aborts_the_process_on_a_shape_error()
    {
        var result = Programs.Run("dotnet", [typeof(Worker).Assembly.Location, "matmul-abort"], TimeSpan.FromMinutes(1));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("terminate called after throwing an instance of 'c10::Error'", result.Stderr);
        Assert.DoesNotContain("survived", result.Stdout);
    }

    [Fact]
    public void Using_a_disposed_tensor_throws_instead_of_touching_freed_memory()
    {
        var t = torch.ones([3]);
        t.Dispose();
        Assert.True(t.IsInvalid);
        Assert.Contains("invalid", Assert.Throws<InvalidOperationException>(() => t.sum()).Message);
        using var other = torch.ones([3]);
        Assert.Throws<InvalidOperationException>(() => other + t);
        t.Dispose(); // idempotent
    }

    [Fact]
    public void Dispose_scope_disposes_what_it_created_except_what_was_moved_out()
    {
        Tensor kept, inner;
        using var outer = torch.NewDisposeScope();
        using (torch.NewDisposeScope())
        {
            var a = torch.ones([4]);
            inner = a * 2;
            kept = (inner + 1).MoveToOuterDisposeScope();
        }
        Assert.True(inner.IsInvalid);
        Assert.False(kept.IsInvalid);
        Assert.Equal([3f, 3, 3, 3], kept.ToArray<float>());
    }

    [Fact]
    public void No_grad_stops_recording_and_restores()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.ones([2], requires_grad: true);
        using (torch.no_grad())
        {
            Assert.False(torch.is_grad_enabled());
            Assert.False((x * 2).requires_grad);
        }
        Assert.True(torch.is_grad_enabled());
        var y = (x * x * 3).sum();
        y.backward();
        Assert.Equal([6f, 6f], x.grad!.ToArray<float>());
    }
}
