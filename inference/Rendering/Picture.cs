using GidCluster.Dataprep.OpenCv;
using static TorchSharp.torch;

namespace GidCluster.Inference.Rendering;

/// <summary>A still picture as RGB8 at the model's frame size (resized if it was not; <see cref="Note"/> says so).</summary>
public sealed record Picture(int Width, int Height, byte[] Rgb, string? Note)
{
    /// <summary>Reads an image file (any format OpenCV reads) and resizes it to <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static Picture Read(string path, int width, int height)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"image {path} does not exist", path);
        Mat bgr;
        try
        {
            bgr = Cv2.ImRead(path);
        }
        catch (GidCluster.Native.NativeException e)
        {
            throw new InvalidDataException($"image {path} could not be read (not an image OpenCV understands, or truncated): {e.Message}", e);
        }
        using var owned = bgr;
        if (bgr.Empty)
            throw new InvalidDataException($"image {path} could not be read (not an image OpenCV understands, or truncated)");
        var (w, h) = (bgr.Cols, bgr.Rows);
        string? note = null;
        using var sized = new Mat();
        if (w != width || h != height)
        {
            Cv2.Resize(bgr, sized, width, height, InterpolationFlags.Area);
            note = $"{path} is {w}×{h}; resized to the model's {width}×{height}" + (Math.Abs((double)w / h - (double)width / height) > 0.02 ? " (aspect ratio changed)" : "");
        }
        else
        {
            bgr.CopyTo(sized);
        }
        using var rgb = new Mat();
        Cv2.CvtColor(sized, rgb, ColorConversionCodes.BGR2RGB);
        return new Picture(width, height, rgb.ToArray<byte>(), note);
    }

    /// <summary><c>[1, 3, H, W]</c> in [0, 1].</summary>
    public Tensor ToTensor()
    {
        using var hwc = tensor(Rgb, [Height, Width, 3], dtype: ScalarType.Byte);
        return hwc.permute(2, 0, 1).unsqueeze(0).to(ScalarType.Float32).div_(255);
    }

    /// <summary>Frames <c>[T, 3, H, W]</c> in [0, 1] → RGB8 bytes, frame after frame (H×W×3 each).</summary>
    public static byte[] ToRgb(Tensor frames)
    {
        using var scope = NewDisposeScope();
        return frames.clamp(0, 1).mul(255).round().to(ScalarType.Byte).permute(0, 2, 3, 1).contiguous().data<byte>().ToArray();
    }

    /// <summary>Writes RGB8 pixels as a PNG (or any format OpenCV writes, by extension).</summary>
    public static void WriteImage(string path, int width, int height, byte[] rgb)
    {
        using var bgr = ToBgr(width, height, rgb);
        Cv2.ImWrite(path, bgr);
    }

    /// <summary>RGB8 pixels encoded in memory; <paramref name="ext"/> like <c>.jpg</c>.</summary>
    public static byte[] Encode(string ext, int width, int height, byte[] rgb)
    {
        using var bgr = ToBgr(width, height, rgb);
        return Cv2.ImEncode(ext, bgr);
    }

    private static Mat ToBgr(int width, int height, byte[] rgb)
    {
        using var rgbMat = new Mat();
        rgbMat.SetData<byte>(height, width, MatType.CV_8UC3, rgb);
        var bgr = new Mat();
        Cv2.CvtColor(rgbMat, bgr, ColorConversionCodes.RGB2BGR); // OpenCV's files are BGR
        return bgr;
    }
}
