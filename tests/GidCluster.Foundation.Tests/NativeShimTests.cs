using GidCluster.Dataprep.OpenCv;
using GidCluster.Native;
using GidCluster.Training.Distributed;
using GidCluster.Training.Tensors;
using Xunit;

namespace GidCluster.Foundation.Tests;

public class NativeShimTests
{
    [Fact]
    public void TorchSharp_loads_libtorch_2_10()
    {
        Assert.Matches(@"^2\.10\.\d+", TorchRuntime.LibTorchVersion);
        using var t = TorchSharp.torch.ones(3) * 2;
        Assert.Equal(6f, t.sum().item<float>());
    }

    [Fact]
    public void Collective_shim_loads_and_reports_Debian_Gloo()
    {
        Assert.Matches(@"^0\.5\.\d+$", ProcessGroup.GlooVersion);
    }

    [Fact]
    public void OpenCv_shim_loads_and_reports_OpenCV_4_6()
    {
        Assert.Matches(@"^4\.6\.\d+", Cv2.GetVersionString());
    }

    [Fact]
    public void Shim_argument_error_becomes_a_managed_exception()
    {
        var dir = Directory.CreateTempSubdirectory("gid-coll-shim");
        try
        {
            using var group = ProcessGroup.Init("file://" + dir.FullName, 0, 1, TimeSpan.FromSeconds(10));
            using var t = TorchSharp.torch.zeros(2);
            var e = Assert.Throws<NativeException>(() => group.Broadcast(t, src: 5));
            Assert.Equal(NativeStatus.ArgumentError, e.Status);
            Assert.Contains("broadcast root 5 is not a rank", e.Message);
            group.Broadcast(t, src: 0); // the group is still usable
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void OpenCv_exception_becomes_a_managed_exception_with_OpenCVs_message()
    {
        var e = Assert.Throws<NativeException>(Cv2.RaiseSelfTestError);
        Assert.Equal(NativeStatus.EngineError, e.Status);
        Assert.Contains("gid self-test error", e.Message);
        // The process is still healthy afterwards and the error slot is cleared by the next call.
        Assert.Matches(@"^4\.6", Cv2.GetVersionString());
    }

    [Fact]
    public void Missing_shim_names_the_file_and_where_it_looked()
    {
        var e = Assert.Throws<DllNotFoundException>(() => NativeLibraries.Locate("gid_no_such_library"));
        Assert.Contains("libgid_no_such_library.so", e.Message);
        Assert.Contains("build", e.Message);
    }
}
