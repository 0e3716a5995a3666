using Pix2Pix.Domain.Inference;
using Pix2Pix.Domain.Networks;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Domain.Tests;

/// <summary>Generators written by PyTorch itself (tests/fixtures/pytorch/make_fixture.py, Debian's python3-torch 1.13).</summary>
public sealed class PytorchImportTests
{
    public static readonly string Fixtures = Path.Combine(Repository.Root, "tests", "fixtures", "pytorch");

    /// <summary>What make_fixture.py built: the reference's unet_32, 8 filters, batch norm.</summary>
    public static readonly ModelManifest Manifest = new()
    {
        Generator = "unet_32", GeneratorFilters = 8, Norm = NormKind.Batch, TrainingWidth = 32, TrainingHeight = 32, LoadSize = 32,
    };

    [Theory]
    [InlineData("unet32-ngf8.pth")]        // torch.save's zip format
    [InlineData("unet32-ngf8.legacy.pth")] // _use_new_zipfile_serialization=False
    public void Import_StateDictWrittenByPyTorch_TranslatesToPyTorchsPixelsWithinOneLevel(string file)
    {
        using var package = new MemoryStream();
        ModelPackage.Import(File.ReadAllBytes(Path.Combine(Fixtures, file)), Manifest, package);
        package.Position = 0;
        using var translator = Pix2PixTranslator.Load(package, new TranslatorOptions { Precision = InferencePrecision.Float32 });
        using var input = Image.Load<Rgb24>(Path.Combine(Fixtures, "input.png"));
        using var expected = Image.Load<Rgb24>(Path.Combine(Fixtures, "output-pytorch.png"));

        using var output = translator.Translate(input, FitMode.Pad);

        int worst = 0;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
            {
                var (a, b) = (output[x, y], expected[x, y]);
                worst = Math.Max(worst, Math.Max(Math.Abs(a.R - b.R), Math.Max(Math.Abs(a.G - b.G), Math.Abs(a.B - b.B))));
            }
        Assert.InRange(worst, 0, 1);
    }

    [Fact]
    public void Import_BothTorchSaveFormats_GiveTheSamePackage()
    {
        using var zip = new MemoryStream();
        using var legacy = new MemoryStream();
        ModelPackage.Import(File.ReadAllBytes(Path.Combine(Fixtures, "unet32-ngf8.pth")), Manifest, zip);
        ModelPackage.Import(File.ReadAllBytes(Path.Combine(Fixtures, "unet32-ngf8.legacy.pth")), Manifest, legacy);

        Assert.Equal(zip.ToArray(), legacy.ToArray());
    }

    [Theory]
    [InlineData(16, "'model.model.0.weight' is [8, 3, 4, 4] in the file")]
    public void Import_WeightsOfAnotherShape_NameTheFirstMismatch(int filters, string expected)
    {
        var error = Assert.Throws<ModelImportException>(() =>
            ModelPackage.Import(File.ReadAllBytes(Path.Combine(Fixtures, "unet32-ngf8.pth")), Manifest with { GeneratorFilters = filters }, Stream.Null));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Import_AnotherArchitecture_NamesTheMissingKey()
    {
        var error = Assert.Throws<ModelImportException>(() =>
            ModelPackage.Import(File.ReadAllBytes(Path.Combine(Fixtures, "unet32-ngf8.pth")), Manifest with { Generator = "unet_64" }, Stream.Null));

        Assert.Matches(@"^The weights have no 'model\.model\.1\.[\w.]+', which a unet_64 generator", error.Message);
    }

    [Fact]
    public void Import_PickleThatAsksForAnythingElse_IsRefusedWithoutRunningIt()
    {
        // pickle.dumps(os.system) followed by a call: the classic code-running pickle (protocol 2).
        byte[] hostile = [0x80, 0x02, .. "cposix\nsystem\n"u8, 0x58, 3, 0, 0, 0, .. "id\n"u8[..2], 0x85, (byte)'R', (byte)'.'];
        using var zip = new MemoryStream();
        using (var archive = new System.IO.Compression.ZipArchive(zip, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        using (var entry = archive.CreateEntry("archive/data.pkl").Open())
            entry.Write(hostile);

        var error = Assert.Throws<ModelImportException>(() => ModelPackage.Import(zip.ToArray(), Manifest, Stream.Null));

        Assert.Contains("'posix.system'", error.Message);
    }

    [Fact]
    public void Import_Garbage_SaysWhatFilesItReads()
    {
        var error = Assert.Throws<ModelImportException>(() => ModelPackage.Import("not weights at all"u8.ToArray(), Manifest, Stream.Null));

        Assert.Contains("torch.save", error.Message);
    }
}
