using GidCluster.Dataprep.OpenCv;
using GidCluster.Native;
using GidCluster.Torch;
using Xunit;

namespace GidCluster.Foundation.Tests;

public class NativeShimTests
{
    [Fact]
    public void Torch_shim_loads_and_reports_Debian_libtorch_1_13()
    {
        Assert.Matches(@"^1\.13\.\d+", torch.__version__);
    }

    [Fact]
    public void OpenCv_shim_loads_and_reports_OpenCV_4_6()
    {
        Assert.Matches(@"^4\.6\.\d+", Cv2.GetVersionString());
    }

    [Fact]
    public void Torch_thread_count_round_trips_through_the_shim()
    {
        var before = torch.get_num_threads();
        try
        {
            torch.set_num_threads(2);
            Assert.Equal(2, torch.get_num_threads());
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    [Fact]
    public void Shim_argument_error_becomes_a_managed_exception()
    {
        var e = Assert.Throws<NativeException>(() => torch.set_num_threads(0));
        Assert.Equal(NativeStatus.ArgumentError, e.Status);
        Assert.Contains("threads must be >= 1", e.Message);
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
