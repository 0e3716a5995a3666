using Pix2Pix.Domain.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Pix2Pix.Domain.Tests;

public class DataTests
{
    private static readonly SampleOptions Options = new() { LoadSize = 36, CropSize = 32, SizeMultiple = 32 };

    [Fact]
    public void Open_AlignedSplit_ListsEveryFileWithHalfWidth()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 5, val: 2);
        File.WriteAllText(Path.Combine(root, "train", "README.txt"), "not an image, ignored");

        var dataset = DatasetRoot.Open(root);

        Assert.Equal(DatasetLayout.Aligned, dataset.Layout);
        Assert.Equal(5, dataset.TrainSplit.Count);
        Assert.Equal(2, dataset.ValSplit!.Count);
        Assert.Null(dataset.TestSplit);
        Assert.All(dataset.TrainSplit.Pairs, p => Assert.Equal((32, 32), (p.Width, p.Height)));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(70_000)] // past 65535: the count lives in the ZIP64 end record
    public void ZipEndRecord_ReadsTheDeclaredEntryCountFromTheEnd(int entries)
    {
        using var buffer = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(buffer, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
            for (int i = 0; i < entries; i++) zip.CreateEntry($"e{i}", System.IO.Compression.CompressionLevel.NoCompression);
        buffer.Position = 3;

        Assert.Equal(entries, ZipEndRecord.DeclaredEntries(buffer));
        Assert.Equal(3, buffer.Position);
        Assert.Null(ZipEndRecord.DeclaredEntries(new MemoryStream("not a zip at all, just some text"u8.ToArray())));
    }

    [Fact]
    public void ExtractAndValidate_MoreEntriesThanAllowed_RefusedFromTheEndRecordBeforeListing()
    {
        var zip = new MemoryStream(TestArchives.Entries(Enumerable.Range(0, 12).Select(i => ($"train/{i}.txt", new byte[1])).ToArray()));

        var error = Assert.Throws<DatasetException>(() =>
            DatasetArchive.ExtractAndValidate(zip, SyntheticDataset.CreateTempDirectory(), new ArchiveLimits { MaxEntries = 10 }));

        Assert.Contains("declares 12 entries", error.Message);
    }

    [Fact]
    public void Open_PairedFolders_MatchesFilesByName()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 3, val: 0, paired: true);
        var dataset = DatasetRoot.Open(root);
        Assert.Equal(DatasetLayout.Paired, dataset.Layout);
        Assert.Equal(["000.png", "001.png", "002.png"], dataset.TrainSplit.Pairs.Select(p => p.Name));
        Assert.All(dataset.TrainSplit.Pairs, p => Assert.EndsWith(Path.Combine("B", p.Name), p.PathB));
    }

    [Fact]
    public void Open_CorruptImage_NamesTheFile()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 2, val: 0);
        File.WriteAllBytes(Path.Combine(root, "train", "broken.jpg"), [0xFF, 0xD8, 0xFF, 0x00, 0x13, 0x37]);
        var error = Assert.Throws<DatasetException>(() => DatasetRoot.Open(root));
        Assert.Equal("train/broken.jpg", error.File);
        Assert.Contains("train/broken.jpg", error.Message);
    }

    [Fact]
    public void Open_NotAnImage_NamesTheFile()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 2, val: 0);
        File.WriteAllText(Path.Combine(root, "train", "notes.png"), "this is text with a .png name");
        Assert.Equal("train/notes.png", Assert.Throws<DatasetException>(() => DatasetRoot.Open(root)).File);
    }

    [Fact]
    public void Open_OddWidthInAlignedLayout_NamesTheFile()
    {
        var root = SyntheticDataset.CreateTempDirectory();
        Directory.CreateDirectory(Path.Combine(root, "train"));
        using (var image = new Image<Rgb24>(33, 16)) image.SaveAsPng(Path.Combine(root, "train", "odd.png"));
        var error = Assert.Throws<DatasetException>(() => DatasetRoot.Open(root));
        Assert.Equal("train/odd.png", error.File);
        Assert.Contains("even", error.Message);
    }

    [Fact]
    public void Open_PairedSizesDiffer_NamesTheFile()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 2, val: 0, paired: true);
        using (var image = new Image<Rgb24>(40, 32)) image.SaveAsPng(Path.Combine(root, "train", "B", "001.png"));
        var error = Assert.Throws<DatasetException>(() => DatasetRoot.Open(root));
        Assert.Equal("train/A/001.png", error.File);
        Assert.Contains("differ in size", error.Message);
    }

    [Theory]
    [InlineData("A", "train/B/001.png")]
    [InlineData("B", "train/A/001.png")]
    public void Open_PartnerMissing_NamesTheOrphan(string deleteFrom, string orphan)
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 2, val: 0, paired: true);
        File.Delete(Path.Combine(root, "train", deleteFrom, "001.png"));
        var error = Assert.Throws<DatasetException>(() => DatasetRoot.Open(root));
        Assert.Equal(orphan, error.File);
        Assert.Contains("partner", error.Message);
    }

    [Fact]
    public void Open_EmptySplit_NamesTheFolder()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 2, val: 0);
        Directory.CreateDirectory(Path.Combine(root, "val"));
        Assert.Equal("val", Assert.Throws<DatasetException>(() => DatasetRoot.Open(root)).File);
    }

    [Fact]
    public void Open_NoTrainFolder_SaysWhatIsExpected()
    {
        var error = Assert.Throws<DatasetException>(() => DatasetRoot.Open(SyntheticDataset.CreateTempDirectory()));
        Assert.Contains("train/", error.Message);
    }

    [Fact]
    public void Open_HeaderClaimsHugeImage_RejectedFromTheHeaderWithoutDecoding()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 1, val: 0);
        // A PNG whose header says 60000×60000 (10.8 GB of RGB once decoded) and whose pixel data is missing.
        File.WriteAllBytes(Path.Combine(root, "train", "bomb.png"), TestArchives.PngHeaderOnly(60000, 60000));
        var error = Assert.Throws<DatasetException>(() => DatasetRoot.Open(root));
        Assert.Equal("train/bomb.png", error.File);
        Assert.Contains("over the limit", error.Message);
    }

    [Fact]
    public void Open_ImageOverConfiguredLimit_Rejected()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 1, val: 0);
        var limits = new DatasetLimits { MaxImageSide = 48 };
        Assert.Equal("train/000.png", Assert.Throws<DatasetException>(() => DatasetRoot.Open(root, limits)).File); // 64×32 aligned
    }

    [Fact]
    public void Load_IdenticalHalves_InputEqualsTargetUnderAnyJitter()
    {
        var root = SyntheticDataset.CreateTempDirectory();
        using (var a = SyntheticDataset.LabelMap(new Random(3), 40, 40)) SyntheticDataset.WritePair(root, "train", "same.png", a, a, paired: false);
        var loader = new SampleLoader(DatasetSplit.Open(Path.Combine(root, "train")), Options);
        for (int epoch = 1; epoch <= 8; epoch++)
        {
            var sample = loader.Load(0, loader.DrawJitter(0, seed: 5, epoch));
            Assert.Equal(sample.Input, sample.Target);
            Assert.Equal(3 * 32 * 32, sample.Input.Length);
            Assert.All(sample.Input, v => Assert.InRange(v, -1f, 1f));
        }
        var jitters = Enumerable.Range(1, 16).Select(e => loader.DrawJitter(0, 5, e)).ToList();
        Assert.Contains(jitters, j => j.Flip);
        Assert.Contains(jitters, j => !j.Flip);
        Assert.True(jitters.Select(j => (j.CropX, j.CropY)).Distinct().Count() > 1);
    }

    [Fact]
    public void Load_BtoA_SwapsInputAndTarget()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 1, val: 0);
        var split = DatasetSplit.Open(Path.Combine(root, "train"));
        var aToB = new SampleLoader(split, Options).Load(0, Jitter.None);
        var bToA = new SampleLoader(split, Options with { Direction = Direction.BtoA }).Load(0, Jitter.None);
        Assert.Equal(aToB.Input, bToA.Target);
        Assert.Equal(aToB.Target, bToA.Input);
        Assert.NotEqual(aToB.Input, aToB.Target);
    }

    [Fact]
    public void Load_Flip_MirrorsBothHalves()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 1, val: 0);
        var loader = new SampleLoader(DatasetSplit.Open(Path.Combine(root, "train")), Options with { Preprocess = Preprocess.None });
        var plain = loader.Load(0, new Jitter(0, 0, false));
        var flipped = loader.Load(0, new Jitter(0, 0, true));
        for (int row = 0; row < 32; row++)
            for (int col = 0; col < 32; col++)
            {
                Assert.Equal(plain.Input[row * 32 + col], flipped.Input[row * 32 + 31 - col]);
                Assert.Equal(plain.Target[row * 32 + col], flipped.Target[row * 32 + 31 - col]);
            }
    }

    [Fact]
    public void Load_OneChannel_IsLuma()
    {
        var root = SyntheticDataset.CreateTempDirectory();
        using (var a = new Image<Rgb24>(32, 32, new Rgb24(255, 0, 0)))
        using (var b = new Image<Rgb24>(32, 32, new Rgb24(0, 0, 255)))
            SyntheticDataset.WritePair(root, "train", "x.png", a, b, paired: false);
        var loader = new SampleLoader(DatasetSplit.Open(Path.Combine(root, "train")), Options with { InputChannels = 1, Preprocess = Preprocess.None });
        var sample = loader.Load(0, Jitter.None);
        Assert.Equal(32 * 32, sample.Input.Length);
        Assert.Equal(3 * 32 * 32, sample.Target.Length);
        Assert.Equal(0.299f * 255 / 127.5f - 1, sample.Input[0], 3);
    }

    [Fact]
    public void Read_ResumedMidEpoch_YieldsTheSameBatchesAsTheUninterruptedRead()
    {
        var root = SyntheticDataset.Create(SyntheticDataset.CreateTempDirectory(), train: 7, val: 0);
        var loader = new SampleLoader(DatasetSplit.Open(Path.Combine(root, "train")), Options);
        var reader = new PrefetchingBatchReader(loader, seed: 11, batchSize: 3);
        var all = reader.Read(1, 0, 3).ToList();
        var resumed = reader.Read(2, 1, 3).ToList();

        Assert.Equal(3, reader.IterationsPerEpoch);
        Assert.Equal(9, all.Count);
        Assert.Equal([1, 2, 3, 1, 2, 3, 1, 2, 3], all.Select(b => b.Iteration));
        Assert.Equal(new long[] { 1, 3, 32, 32 }, all[2].InputShape); // the last batch of an epoch holds the remainder
        Assert.Equal(all.Skip(4).Select(b => (b.Epoch, b.Iteration, string.Join(",", b.Names))), resumed.Select(b => (b.Epoch, b.Iteration, string.Join(",", b.Names))));
        Assert.Equal(all[4].Input, resumed[0].Input);
        Assert.NotEqual(string.Join(",", all.Take(3).SelectMany(b => b.Names)), string.Join(",", all.Skip(3).Take(3).SelectMany(b => b.Names)));
    }

    [Fact]
    public void Permutation_IsAPermutationThatChangesWithTheEpoch()
    {
        var first = SplitMix64.Permutation(50, seed: 1, epoch: 1);
        Assert.Equal(Enumerable.Range(0, 50), first.Order());
        Assert.NotEqual(first, SplitMix64.Permutation(50, seed: 1, epoch: 2));
        Assert.Equal(first, SplitMix64.Permutation(50, seed: 1, epoch: 1));
    }

    [Fact]
    public void Stack_DifferentSizesInOneBatch_ExplainsTheFix()
    {
        var small = new PairSample("a.png", new float[3 * 32 * 32], new float[3 * 32 * 32], 32, 32, 3, 3);
        var large = new PairSample("b.png", new float[3 * 64 * 32], new float[3 * 64 * 32], 64, 32, 3, 3);
        var error = Assert.Throws<DatasetException>(() => PrefetchingBatchReader.Stack([small, large]));
        Assert.Contains("batch size 1", error.Message);
    }
}
