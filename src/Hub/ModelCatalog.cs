namespace BiasBench.Hub;

/// <summary>One file of a known model.</summary>
public sealed record CatalogFile(string RepoId, string Path, string Revision = HubOptions.DefaultRevision);

/// <summary>A reward (or generator) model BiasBench knows how to fetch: the files its plugin loads.</summary>
/// <param name="Name">Short name used on the command line and in configs ("pickscore").</param>
/// <param name="Note">Caveats, e.g. file names that could not be checked against the hub.</param>
public sealed record CatalogModel(string Name, string Description, IReadOnlyList<CatalogFile> Files, string? Note = null)
{
    /// <summary>The repository that holds the model's weights (the first file's).</summary>
    public string PrimaryRepo => Files[0].RepoId;

    public IEnumerable<string> Repositories => Files.Select(f => f.RepoId).Distinct(StringComparer.Ordinal);

    /// <summary>Requests for every file; <paramref name="revision"/> replaces the primary repository's revision only
    /// (shared tokenizer/config repositories stay on their own revision).</summary>
    public IReadOnlyList<HubFileRequest> Requests(string? revision = null, string? localDirectory = null, bool force = false) =>
        Files.Select(f => new HubFileRequest(f.RepoId, f.Path)
        {
            Revision = revision is not null && f.RepoId == PrimaryRepo ? revision : f.Revision,
            LocalDirectory = localDirectory,
            ForceDownload = force,
        }).ToList();
}

/// <summary>The models <c>biasbench models download NAME</c> knows by name.</summary>
public static class ModelCatalog
{
    private const string LaionH14 = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K";

    // File names were checked against public code that downloads them (hf_hub_download / wget calls and model cards
    // found with the code search): PickScore model.safetensors, HPSv2 *_compressed.pt, ImageReward.pt + med_config.json,
    // ddpm-celebahq-256's unet/ and scheduler/ layout. Entries marked "not verified" below were not seen in such code.
    public static IReadOnlyList<CatalogModel> All { get; } =
    [
        new("pickscore", "PickScore v1 (CLIP ViT-H/14 fine-tuned on Pick-a-Pic) with the LAION ViT-H/14 processor and tokenizer",
        [
            new("yuvalkirstain/PickScore_v1", "config.json"),
            new("yuvalkirstain/PickScore_v1", "model.safetensors"),
            new(LaionH14, "vocab.json"),
            new(LaionH14, "merges.txt"),
            new(LaionH14, "preprocessor_config.json"),
        ]),
        new("hps-v2", "Human Preference Score v2.0 (open_clip ViT-H-14 checkpoint)",
        [
            new("xswu/HPSv2", "HPS_v2_compressed.pt"),
            new(LaionH14, "open_clip_config.json"),
        ]),
        new("hps-v2.1", "Human Preference Score v2.1 (open_clip ViT-H-14 checkpoint)",
        [
            new("xswu/HPSv2", "HPS_v2.1_compressed.pt"),
            new(LaionH14, "open_clip_config.json"),
        ]),
        new("image-reward", "ImageReward v1.0 (BLIP ViT-L + BERT reward head)",
        [
            new("THUDM/ImageReward", "ImageReward.pt"),
            new("THUDM/ImageReward", "med_config.json"),
        ], "The BERT tokenizer vocabulary (bert-base-uncased vocab.txt) is not part of this repository."),
        new("clip-score", "OpenAI CLIP ViT-L/14 (CLIPScore)",
        [
            new("openai/clip-vit-large-patch14", "config.json"),
            new("openai/clip-vit-large-patch14", "model.safetensors"),
            new("openai/clip-vit-large-patch14", "vocab.json"),
            new("openai/clip-vit-large-patch14", "merges.txt"),
            new("openai/clip-vit-large-patch14", "preprocessor_config.json"),
        ], "model.safetensors and preprocessor_config.json of openai/clip-vit-large-patch14 were not verified in public code here."),
        new("laion-aesthetic-v2", "LAION aesthetic predictor v2 (improved-aesthetic-predictor's sac+logos+ava1-l14-linearMSE MLP head) on OpenAI CLIP ViT-L/14",
        [
            new("camenduru/improved-aesthetic-predictor", "sac+logos+ava1-l14-linearMSE.pth"),
            new("openai/clip-vit-large-patch14", "config.json"),
            new("openai/clip-vit-large-patch14", "model.safetensors"),
            new("openai/clip-vit-large-patch14", "preprocessor_config.json"),
        ], "The head is the file of christophschuhmann/improved-aesthetic-predictor as mirrored on the hub (seen downloaded with hf_hub_download in public code); " +
           "point the plugin's head_path at it and model_path at the CLIP folder. No tokenizer: the prompt is ignored."),
        new("ddpm-celebahq-256", "DDPM UNet trained on CelebA-HQ 256 (diffusers layout: model_index.json, unet/, scheduler/)",
        [
            new("google/ddpm-celebahq-256", "model_index.json"),
            new("google/ddpm-celebahq-256", "unet/config.json"),
            new("google/ddpm-celebahq-256", "unet/diffusion_pytorch_model.bin"),
            new("google/ddpm-celebahq-256", "scheduler/scheduler_config.json"),
        ], "The repository also has root-level config.json/diffusion_pytorch_model.bin/scheduler_config.json; the subfolder layout is what diffusers (and the ddpm_unet fixtures) load."),
        new("stable-diffusion-v1-5", "Stable Diffusion 1.5 (diffusers layout, fp16 weights: UNet, VAE, CLIP text encoder, tokenizer, PNDM scheduler config)",
        [
            new(StableDiffusion15, "model_index.json"),
            new(StableDiffusion15, "unet/config.json"),
            new(StableDiffusion15, "unet/diffusion_pytorch_model.fp16.safetensors"),
            new(StableDiffusion15, "vae/config.json"),
            new(StableDiffusion15, "vae/diffusion_pytorch_model.fp16.safetensors"),
            new(StableDiffusion15, "text_encoder/config.json"),
            new(StableDiffusion15, "text_encoder/model.fp16.safetensors"),
            new(StableDiffusion15, "tokenizer/vocab.json"),
            new(StableDiffusion15, "tokenizer/merges.txt"),
            new(StableDiffusion15, "scheduler/scheduler_config.json"),
        ], "fp16 variant files (the pipeline loads them to fp32/fp16/bf16); file names as in public download scripts for runwayml/stable-diffusion-v1-5, whose files this repository mirrors. The safety checker is not downloaded (not used)."),
    ];

    private const string StableDiffusion15 = "stable-diffusion-v1-5/stable-diffusion-v1-5";

    /// <summary>A model by its short name, or by its main hub repository ("google/ddpm-celebahq-256").</summary>
    public static CatalogModel? Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? All.FirstOrDefault(m => string.Equals(m.PrimaryRepo, name, StringComparison.OrdinalIgnoreCase));

    public static IEnumerable<string> Names => All.Select(m => m.Name);
}
