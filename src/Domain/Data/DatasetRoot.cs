namespace Pix2Pix.Domain.Data;

/// <summary>A dataset folder with the splits <c>train/</c> (required), <c>val/</c> and <c>test/</c> (optional).</summary>
public sealed class DatasetRoot
{
    public const string Train = "train", Val = "val", Test = "test";

    private DatasetRoot(string directory, DatasetSplit train, DatasetSplit? val, DatasetSplit? test)
    {
        Directory = directory;
        TrainSplit = train;
        ValSplit = val;
        TestSplit = test;
    }

    public string Directory { get; }
    public DatasetSplit TrainSplit { get; }
    public DatasetSplit? ValSplit { get; }
    public DatasetSplit? TestSplit { get; }
    public DatasetLayout Layout => TrainSplit.Layout;

    /// <summary>A dataset made of splits opened separately (for example a bare folder of aligned images as train).</summary>
    public static DatasetRoot Of(DatasetSplit train, DatasetSplit? val = null, DatasetSplit? test = null) =>
        new(Path.GetDirectoryName(train.Directory) ?? train.Directory, train, val, test);

    public static DatasetRoot Open(string directory, DatasetLimits? limits = null)
    {
        directory = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(Path.Combine(directory, Train)))
            throw new DatasetException("The dataset has no train/ folder (expected train/, and optionally val/ and test/).", Train + "/");
        var train = DatasetSplit.Open(Path.Combine(directory, Train), limits, directory);
        DatasetSplit? OpenOptional(string name)
        {
            var path = Path.Combine(directory, name);
            if (!System.IO.Directory.Exists(path)) return null;
            var split = DatasetSplit.Open(path, limits, directory);
            if (split.Layout != train.Layout)
                throw new DatasetException($"Split {name}/ is {split.Layout} but train/ is {train.Layout}; use one layout.", name + "/");
            return split;
        }
        return new DatasetRoot(directory, train, OpenOptional(Val), OpenOptional(Test));
    }
}
