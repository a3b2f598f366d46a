"""Small Flask app: `cunicorn --chdir examples flask_app:app`."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from Flask!\n"


@app.route("/json")
def as_json():
    return jsonify(ok=True, server="cunicorn", args=request.args.to_dict())


@app.route("/hello/<name>")
def hello(name):
    return "Hello, %s!\n" % name


@app.route("/echo", methods=["POST"])
def echo():
    data = request.get_data()
    return app.response_class(data, mimetype=request.mimetype or "application/octet-stream",
                              headers={"X-Echo-Length": str(len(data))})


application = app
