using System.Text.Json;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Synthetic;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Dataprep.Tests;

/// <summary>
/// Bad videos, generated with ffmpeg at test time, each get a clear per-video status, and a good
/// video in the same run still yields its samples.
/// </summary>
public class BadVideoTests
{
    private static void Ffmpeg(params string[] args)
    {
        var result = Programs.Run("ffmpeg", new[] { "-hide_banner", "-loglevel", "error", "-y" }.Concat(args), TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, $"ffmpeg {string.Join(' ', args)} failed: {result.Stderr}");
    }

    [Fact]
    public void Every_bad_video_gets_a_clear_status_and_the_run_completes()
    {
        using var dir = Paths.NewTempDir("gid-badvideos");
        string P(string name) => Path.Combine(dir.Path, name);
        var src = "testsrc2=size=320x240:rate=30";

        File.WriteAllBytes(P("zero_bytes.mp4"), []);
        File.WriteAllText(P("text_renamed.mp4"), "This is a text file that only pretends to be a video.\n");
        Ffmpeg("-f", "lavfi", "-i", src, "-frames:v", "1", "-pix_fmt", "yuv420p", P("single_frame.mp4"));
        Ffmpeg("-f", "lavfi", "-i", src, "-frames:v", "100", "-pix_fmt", "yuv420p", P("short_100_frames.mp4"));
        Ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac", P("audio_only.mp4"));
        // Truncated in two ways: index at the end (cut off), and index first (the tail of the data cut off).
        Ffmpeg("-f", "lavfi", "-i", src, "-frames:v", "200", "-pix_fmt", "yuv420p", P("full_200.mp4"));
        var full = File.ReadAllBytes(P("full_200.mp4"));
        File.WriteAllBytes(P("truncated_no_index.mp4"), full[..(full.Length / 2)]);
        Ffmpeg("-f", "lavfi", "-i", src, "-frames:v", "200", "-pix_fmt", "yuv420p", "-movflags", "+faststart", P("faststart_200.mp4"));
        var fast = File.ReadAllBytes(P("faststart_200.mp4"));
        File.WriteAllBytes(P("truncated_half.mp4"), fast[..(fast.Length / 2)]);
        File.Delete(P("full_200.mp4"));
        File.Delete(P("faststart_200.mp4"));
        // Variable frame rate: 60 frames at 30 fps, then 100 frames at 15 fps (time-stamped, not repeated).
        Ffmpeg("-f", "lavfi", "-i", src, "-frames:v", "160", "-vf", "setpts='if(lt(N,60),N,60+(N-60)*2)/(30*TB)'",
            "-fps_mode", "vfr", "-pix_fmt", "yuv420p", P("variable_rate.mp4"));
        Ffmpeg("-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=30", "-frames:v", "40", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", P("uhd_4k.mp4"));
        var scene = SyntheticScene.Random(seed: 3, frames: 152);
        SyntheticVideo.Write(scene, P("good_synth.mp4"), timeout: TimeSpan.FromMinutes(2));

        var outDir = P("out");
        var run = new DataprepRun(new DataprepOptions { MaxClips = 1, ConsistencyStride = 50 }, outDir);
        var videos = DataprepRun.ExpandInputs([dir.Path]);
        Assert.Equal(10, videos.Count);
        run.Run(videos);
        var byId = run.Reports.ToDictionary(r => r.VideoId);

        void Expect(string id, VideoStatus status, string reasonPart)
        {
            var r = byId[id];
            var text = $"{id}: {r.StatusText} ({r.Reason}; {string.Join("; ", r.Notes)})";
            Assert.True(r.Status == status, text);
            Assert.Contains(reasonPart, r.Reason + " " + string.Join(" ", r.Notes), StringComparison.OrdinalIgnoreCase);
        }

        Expect("zero_bytes", VideoStatus.Error, "empty file");
        Expect("text_renamed", VideoStatus.Error, "cannot open");
        Expect("audio_only", VideoStatus.Error, "");
        Expect("truncated_no_index", VideoStatus.Error, "cannot open");
        Expect("single_frame", VideoStatus.NoClips, "a clip needs 150");
        Expect("short_100_frames", VideoStatus.NoClips, "100 frames at 30 fps");
        Expect("truncated_half", VideoStatus.NoClips, "truncated?");
        Expect("uhd_4k", VideoStatus.NoClips, "40 frames");
        Assert.Equal((3840, 2160), (byId["uhd_4k"].SourceWidth, byId["uhd_4k"].SourceHeight));
        // 60 frames at 30 fps + 100 at 15 fps = 2 + 6.67 s, resampled by timestamps to ~259 frames at 30 fps.
        Expect("variable_rate", VideoStatus.Ok, "variable frame rate");
        using (var reader = new ResampledFrames(P("variable_rate.mp4"), new DataprepOptions()))
        using (var slot = new FrameSlot(256, 160, 256, 160))
        {
            var frames = 0;
            while (reader.Next(slot))
                frames++;
            Assert.InRange(frames, 255, 262); // last timestamp 8.6 s → 259 frames at 30 fps
        }
        Expect("good_synth", VideoStatus.Ok, "1 clip");
        Assert.Equal(1, byId["good_synth"].Samples);

        // The run files record it all.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, DataprepRun.VideosFile)));
        Assert.Equal(10, doc.RootElement.GetProperty("videos").GetArrayLength());
        Assert.Equal(2, File.ReadAllLines(Path.Combine(outDir, DataprepRun.SamplesFile)).Length);
        Assert.True(File.Exists(Path.Combine(outDir, DataprepRun.StatisticsFile)));
    }
}
