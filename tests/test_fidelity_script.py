"""Issue 14: a PyTorch-style training program (written for this test) run once with
loomgrad imported as ``torch``: legacy constructors and nn.Parameter, utils.data with
num_workers=2, manual ``.data`` SGD updates, backends.cudnn flags, whole-model save/load
through a BytesIO, and an LBFGS fine-tuning of the last layer."""
import io
import math

import loomgrad as torch  # the point of the test: torch's spelling, our library
import loomgrad.nn as nn
import loomgrad.nn.functional as F
from loomgrad.utils.data import DataLoader, TensorDataset, random_split

torch.backends.cudnn.benchmark = True
torch.backends.cudnn.deterministic = True


class MLP(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.w1 = nn.Parameter(torch.Tensor(n_in, n_hidden))
        self.b1 = nn.Parameter(torch.Tensor(n_hidden))
        self.out = nn.Linear(n_hidden, n_out)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.w1.size(0))
        self.w1.data.uniform_(-bound, bound)
        self.b1.data.zero_()

    def forward(self, x):
        return self.out(torch.relu(torch.mm(x, self.w1) + self.b1))


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for xb, yb in loader:
            correct += (model(xb).argmax(dim=1) == yb).sum().item()
            total += yb.size(0)
    model.train()
    return correct / total


def test_pytorch_style_training_script():
    torch.manual_seed(0)
    X, y = torch.data.digits("all")
    full = TensorDataset(X, y)
    train_set, test_set = random_split(full, [0.8, 0.2])
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=2,
                              persistent_workers=True)
    test_loader = DataLoader(test_set, batch_size=256, num_workers=2)

    model = MLP(64, 32, 10)
    lr = 0.2
    for epoch in range(8):
        for xb, yb in train_loader:
            loss = F.cross_entropy(model(xb), yb)
            model.zero_grad()
            loss.backward()
            for p in model.parameters():
                p.data.add_(p.grad.data, alpha=-lr)  # the classic manual SGD step
        print(f"epoch {epoch} loss {loss:.4f}")  # format() of a 0-d tensor
    acc = evaluate(model, test_loader)
    assert acc > 0.88, acc

    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    torch.serialization.add_safe_globals([MLP])
    restored = torch.load(buf)
    assert evaluate(restored, test_loader) == acc

    # fine-tune the output layer with L-BFGS on one big batch
    xb, yb = X[:512], y[:512]
    for p in restored.parameters():
        p.requires_grad_(False)
    restored.out.weight.requires_grad_(True)
    restored.out.bias.requires_grad_(True)
    opt = torch.optim.LBFGS(restored.out.parameters(), history_size=10, max_iter=10,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(restored(xb), yb)
        loss.backward()
        return loss
    before = closure().item()
    for _ in range(3):
        opt.step(closure)
    after = closure().item()
    assert after < before
    torch.serialization.clear_safe_globals()
