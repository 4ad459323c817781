using GidCluster.Native;

namespace GidCluster.Torch.Tests;

public class TensorTests
{
    [Fact]
    public void Every_dtype_round_trips_through_spans()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal([1.5f, -2f, 3.25f, 0f, 5f, 6f], torch.tensor(new[] { 1.5f, -2f, 3.25f, 0f, 5f, 6f }, [2, 3]).ToArray<float>());
        Assert.Equal([long.MaxValue, -7], torch.tensor(new[] { long.MaxValue, -7L }).ToArray<long>());
        Assert.Equal([int.MinValue, 9], torch.tensor(new[] { int.MinValue, 9 }).ToArray<int>());
        Assert.Equal([(byte)0, (byte)255], torch.tensor(new byte[] { 0, 255 }).ToArray<byte>());
        Assert.Equal([true, false, true], torch.tensor(new[] { true, false, true }).ToArray<bool>());
        Assert.Equal([(Half)1.5, (Half)(-0.25)], torch.tensor(new[] { (Half)1.5, (Half)(-0.25) }).ToArray<Half>());
        var bf = torch.tensor(new[] { 1.5f, -0.25f, 3f }).to(torch.bfloat16);
        Assert.Equal(ScalarType.BFloat16, bf.dtype);
        Assert.Equal([1.5f, -0.25f, 3f], bf.to(torch.float32).ToArray<float>());
        var t = torch.zeros([2, 3, 4], torch.int32);
        Assert.Equal([2L, 3, 4], t.shape);
        Assert.Equal(ScalarType.Int32, t.dtype);
        Assert.Equal(torch.CPU with { index = -1 }, t.device);
    }

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
        Assert.Equal(py["full"].ToArray<float>(), torch.full([2, 2], 0.75).ToArray<float>());
        using var g = new torch.Generator(42);
        Assert.Equal(py["randn"].ToArray<float>(), torch.randn([3, 4], g).ToArray<float>());
        Assert.Equal(py["rand"].ToArray<float>(), torch.rand([5], g).ToArray<float>());
        Assert.Equal(py["randint"].ToArray<long>(), torch.randint(0, 9, [6], g).ToArray<long>());
    }

    [Fact]
    public void Shape_mismatch_becomes_a_managed_exception_with_libtorchs_message()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<NativeException>(() => torch.ones([2, 3]).matmul(torch.ones([4, 5])));
        Assert.Equal(NativeStatus.EngineError, e.Status);
        Assert.Contains("cannot be multiplied", e.Message);
        var e2 = Assert.Throws<NativeException>(() => torch.ones([2, 3]) + torch.ones([4]));
        Assert.Contains("must match the size", e2.Message);
        // the process keeps running and the next call works
        Assert.Equal(6.0, torch.ones([2, 3]).sum().item());
    }

    [Fact]
    public void Dtype_mismatch_becomes_a_managed_exception()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<NativeException>(() => torch.ones([2, 3]).matmul(torch.ones([3, 2], torch.int64)));
        Assert.Contains("expected", e.Message, StringComparison.OrdinalIgnoreCase);
        var e2 = Assert.Throws<ArgumentException>(() => torch.ones([2]).ToArray<long>());
        Assert.Contains("Float32", e2.Message);
        Assert.Throws<NativeException>(() => torch.ones([2]).index_select(0, torch.ones([1])));
    }

    [Fact]
    public void Device_mismatch_or_missing_cuda_becomes_a_managed_exception()
    {
        using var scope = torch.NewDisposeScope();
        if (torch.cuda_compiled)
            return; // covered only on a CUDA build
        var e = Assert.Throws<NativeException>(() => torch.ones([2]).to(torch.device("cuda:0")));
        Assert.Contains("CUDA", e.Message);
        Assert.Throws<ArgumentException>(() => torch.device("tpu:0"));
    }

    [Fact]
    public void Using_a_disposed_tensor_throws_ObjectDisposedException()
    {
        var t = torch.ones([3]);
        t.Dispose();
        Assert.True(t.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => t.sum());
        using var other = torch.ones([3]);
        Assert.Throws<ObjectDisposedException>(() => other + t);
        Assert.Throws<ObjectDisposedException>(() => torch.cat([other, t]));
        t.Dispose(); // idempotent
    }

    [Fact]
    public void Dispose_scope_disposes_what_it_created_except_what_was_moved_out()
    {
        Tensor kept, inner;
        using var outer = torch.NewDisposeScope();
        using (var scope = torch.NewDisposeScope())
        {
            var a = torch.ones([4]);
            inner = a * 2;
            kept = (inner + 1).MoveToOuterDisposeScope();
            Assert.Equal(2, scope.Count);
        }
        Assert.True(inner.IsDisposed);
        Assert.False(kept.IsDisposed);
        Assert.Equal(1, outer.Count);
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
        Assert.True(y.requires_grad);
        y.backward();
        Assert.Equal([6f, 6f], x.grad!.ToArray<float>());
    }
}
