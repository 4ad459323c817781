using GidCluster.Dataprep.Synthetic;
using GidCluster.TestSupport;

namespace GidCluster.Dataprep.Tests;

/// <summary>One short synthetic video (256×160, 160 frames at 30 fps) shared by a test class.</summary>
public sealed class SyntheticFixture : IDisposable
{
    public SyntheticFixture()
    {
        Dir = Paths.NewTempDir("gid-dataprep");
        Scene = SyntheticScene.Random(seed: 7, frames: 160);
        Video = Path.Combine(Dir.Path, "synth_0007.mp4");
        Sidecar = SyntheticVideo.Write(Scene, Video, crf: 10, timeout: TimeSpan.FromMinutes(2));
    }

    public TempDir Dir { get; }
    public SyntheticScene Scene { get; }
    public string Video { get; }
    public SyntheticSidecar Sidecar { get; }

    public void Dispose() => Dir.Dispose();
}
