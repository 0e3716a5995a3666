namespace Pix2Pix.Domain.Data;

/// <summary>A problem with the data a caller supplied; the message names the file (relative to the dataset root) when there is one.</summary>
public sealed class DatasetException : Pix2Pix.Domain.Training.InvalidJobException
{
    public DatasetException(string message, string? file = null, Exception? inner = null)
        : base(file is null ? message : $"{file}: {message}", inner)
    {
        File = file;
    }

    /// <summary>The offending file, relative to the dataset root, or null when the problem is not about one file.</summary>
    public string? File { get; }
}
