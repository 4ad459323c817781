using System.Globalization;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Inference.Rendering;

namespace GidCluster.Inference.Tests;

/// <summary><c>gid animate</c> as the real process on a tiny model folder: the files it writes and its one-line errors.</summary>
public sealed class AnimateCommandTests : IClassFixture<AnimateCommandTests.Inputs>
{
    public sealed class Inputs : IDisposable
    {
        public Inputs()
        {
            TinyModels.Write(Model);
            Directory.CreateDirectory(Pictures);
            // Not the model's 64×48: the command resizes and says so.
            var rgb = new byte[80 * 50 * 3];
            for (var i = 0; i < rgb.Length; i++) rgb[i] = (byte)(i * 7 % 251);
            Picture.WriteImage(Path.Combine(Pictures, "a.png"), 80, 50, rgb);
            Picture.WriteImage(Path.Combine(Pictures, "b.png"), 64, 48, rgb[..(64 * 48 * 3)]);
            File.WriteAllText(Path.Combine(Dir.Path, "text.png"), "not an image\n");
        }

        public TempDir Dir { get; } = Paths.NewTempDir("gid-animate");
        public string Model => Path.Combine(Dir.Path, "model");
        public string Pictures => Path.Combine(Dir.Path, "pictures");
        public void Dispose() => Dir.Dispose();
    }

    private readonly Inputs _in;
    public AnimateCommandTests(Inputs inputs) => _in = inputs;

    [Fact]
    public void One_picture_becomes_an_mp4_an_xt_slice_and_a_spectrum_image()
    {
        var video = Path.Combine(_in.Dir.Path, "out", "a.mp4");
        var r = Programs.Gid("animate", Path.Combine(_in.Pictures, "a.png"), "--model", _in.Model, "--out", video, "--steps", "3", "--seconds", "1", "--slowmo", "2", "--seed", "4");
        Assert.True(r.ExitCode == 0, r.Combined);
        Assert.Contains("is 80×50; resized to the model's 64×48", r.Stdout);
        Assert.Equal(60, CountFrames(video)); // 1 s at 30 fps, twice as many frames for slow motion
        using (var xt = Cv2.ImRead(Path.Combine(_in.Dir.Path, "out", "a.xt.png")))
            Assert.Equal((64, 60), (xt.Cols, xt.Rows));
        using (var spectrum = Cv2.ImRead(Path.Combine(_in.Dir.Path, "out", "a.spectrum.png")))
            Assert.False(spectrum.Empty);
    }

    [Fact]
    public void A_folder_of_pictures_becomes_gif_loops_in_the_output_folder()
    {
        var output = Path.Combine(_in.Dir.Path, "batch");
        var r = Programs.Gid("animate", _in.Pictures, "--model", _in.Model, "--out", output, "--format", "gif", "--loop", "--steps", "2", "--seconds", "0.5", "--recurrence", "1");
        Assert.True(r.ExitCode == 0, r.Combined);
        Assert.Contains("2 of 2 pictures animated", r.Stdout);
        foreach (var name in new[] { "a", "b" })
            Assert.Equal(14, CountFrames(Path.Combine(output, name + ".gif"))); // a loop of T = 15 shows τ = 1 … 14
    }

    [Fact]
    public void Bench_loop_compares_guided_with_unguided_loop_error_on_the_same_seeds()
    {
        var r = Programs.Gid("bench", "loop", "--model", _in.Model, "--pictures", _in.Pictures, "--count", "1", "--steps", "2", "--seconds", "0.5");
        Assert.True(r.ExitCode == 0, r.Combined);
        Assert.Matches(@"a\.png: L_g unguided [0-9.e+-]+, guided [0-9.e+-]+, ratio [0-9.]+", r.Stdout);
        var bench = r.Stdout.Split('\n').Single(l => l.StartsWith("BENCH ", StringComparison.Ordinal));
        Assert.Contains("\"name\":\"loop_error\"", bench);
        Assert.Contains("\"frames\":\"15\"", bench);
        var missing = Programs.Gid("bench", "loop", "--demo", Path.Combine(_in.Dir.Path, "nope"));
        Assert.True(missing.ExitCode == 2, missing.Combined);
        Assert.Contains($"{Path.Combine(_in.Dir.Path, "nope", "model")}: no trained model here", missing.Stderr);
        Assert.DoesNotContain("   at ", missing.Stderr);
    }

    [Theory]
    [InlineData("missing", "image {d}/nope.png does not exist")]
    [InlineData("unreadable", "image {d}/text.png could not be read")]
    [InlineData("extension", "the video must end in .mp4 or .gif")]
    [InlineData("model", "model folder {d}/pictures has no model.json")]
    [InlineData("slowmo", "--slowmo 0.5: must be 1…64")]
    public void Bad_input_ends_in_one_line_naming_it(string kind, string expected)
    {
        var d = _in.Dir.Path;
        string[] args = kind switch
        {
            "missing" => ["animate", Path.Combine(d, "nope.png"), "--model", _in.Model, "--out", Path.Combine(d, "x.mp4")],
            "unreadable" => ["animate", Path.Combine(d, "text.png"), "--model", _in.Model, "--out", Path.Combine(d, "x.mp4"), "--steps", "1"],
            "extension" => ["animate", Path.Combine(_in.Pictures, "a.png"), "--model", _in.Model, "--out", Path.Combine(d, "x.avi")],
            "model" => ["animate", Path.Combine(_in.Pictures, "a.png"), "--model", _in.Pictures, "--out", Path.Combine(d, "x.mp4")],
            _ => ["animate", Path.Combine(_in.Pictures, "a.png"), "--model", _in.Model, "--out", Path.Combine(d, "x.mp4"), "--slowmo", "0.5"],
        };
        var r = Programs.Gid(args);
        Assert.True(r.ExitCode == 2, r.Combined);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Single(lines, l => l.StartsWith("gid animate:", StringComparison.Ordinal));
        Assert.Contains(expected.Replace("{d}", d, StringComparison.Ordinal), lines[^1]);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    private static int CountFrames(string video)
    {
        var r = Programs.Run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", video]);
        Assert.True(r.ExitCode == 0, r.Combined);
        return int.Parse(r.Stdout.Trim(), CultureInfo.InvariantCulture);
    }
}
